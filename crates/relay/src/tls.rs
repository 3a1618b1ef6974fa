//! The TLS accept loop: rustls, then HTTP/1.1 or HTTP/2 (ALPN) on the same port.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// The client certificate of the connection a request came on (rustls has verified that it
/// chains to the Renkei CA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// DER of the end-entity certificate.
    pub der: Arc<Vec<u8>>,
    /// SHA-256 of its SubjectPublicKeyInfo, lower-case hex (empty if it cannot be parsed).
    pub spki_sha256: String,
}

impl PeerCertificate {
    /// From the DER of a certificate.
    pub fn from_der(der: Vec<u8>) -> Self {
        let spki_sha256 = x509_parser::parse_x509_certificate(&der)
            .map(|(_, c)| hex::encode(Sha256::digest(c.tbs_certificate.subject_pki.raw)))
            .unwrap_or_default();
        Self {
            der: Arc::new(der),
            spki_sha256,
        }
    }
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// A client must send a request's whole header within this long (HTTP/1), else the connection
/// is closed: idle or trickling connections do not hold sockets and tasks forever.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 pings an idle connection this often and closes it if the ping is not answered in
/// [`KEEP_ALIVE_TIMEOUT`].
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Serve `app` over TLS on `listener` until `shutdown` resolves; then stop accepting and give
/// open connections a short while to finish. Each request carries the connection's
/// [`PeerCertificate`] (if the client presented one) as an extension.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let mut conns = JoinSet::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while conns.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let app = app.clone();
        let mut stop = stop_rx.clone();
        conns.spawn(async move {
            let _ = tcp.set_nodelay(true);
            let tls_stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%remote, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "TLS handshake timed out");
                        return;
                    }
                };
            let peer = tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| PeerCertificate::from_der(c.as_ref().to_vec()));
            let svc = app.map_request(move |mut req: http::Request<hyper::body::Incoming>| {
                if let Some(p) = &peer {
                    req.extensions_mut().insert(p.clone());
                }
                req.map(axum::body::Body::new)
            });
            let svc = hyper_util::service::TowerToHyperService::new(svc);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(KEEP_ALIVE_INTERVAL)
                .keep_alive_timeout(KEEP_ALIVE_TIMEOUT);
            let conn = builder.serve_connection(TokioIo::new(tls_stream), svc);
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.changed() => {
                    // Finish in-flight requests, then close (HTTP/2 GOAWAY, HTTP/1 no keep-alive).
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(());
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        conns.abort_all();
    }
    Ok(())
}
