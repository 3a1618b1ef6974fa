//! rustls configurations built from Renkei certificates (ring provider only).
//!
//! The server trusts exactly the Renkei CA for client certificates (office certificates are
//! Ed25519, which TLS 1.3 and 1.2 in rustls both support); clients trust exactly the Renkei CA for
//! the server. Use [`client_tls_config`] with `reqwest::ClientBuilder::use_preconfigured_tls`.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{OfficeCert, PkiError};

/// Whether the TLS server asks for a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate (e.g. the portal in a browser).
    None,
    /// Verified when presented, but a connection without one is accepted (the application then
    /// decides per route).
    Optional,
    /// A certificate issued by the Renkei CA is required to complete the handshake.
    Required,
}

/// The ring crypto provider, the only one Renkei uses.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> PkiError {
    PkiError::Tls(e.to_string())
}

fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| PkiError::Parse(format!("certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::Parse("no certificate in PEM".into()));
    }
    Ok(certs)
}

fn roots(ca_cert_pem: &str) -> Result<RootCertStore, PkiError> {
    let mut store = RootCertStore::empty();
    for c in certs_from_pem(ca_cert_pem)? {
        store.add(c).map_err(tls_err)?;
    }
    Ok(store)
}

fn alpn() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}

/// A rustls server configuration: the given certificate and key (PEM; PKCS#8, SEC1 or PKCS#1),
/// ALPN `h2` and `http/1.1`, and client certificates verified against the Renkei CA.
pub fn server_tls_config(
    server_cert_pem: &str,
    server_key_pem: &str,
    ca_cert_pem: &str,
    client_auth: ClientAuth,
) -> Result<ServerConfig, PkiError> {
    let provider = crypto_provider();
    let chain = certs_from_pem(server_cert_pem)?;
    let key = rustls_pemfile::private_key(&mut server_key_pem.as_bytes())
        .map_err(|e| PkiError::Parse(format!("server key PEM: {e}")))?
        .ok_or_else(|| PkiError::Parse("no private key in PEM".into()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional | ClientAuth::Required => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca_cert_pem)?),
                provider,
            );
            let verifier = if client_auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(tls_err)?)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(tls_err)?;
    config.alpn_protocols = alpn();
    Ok(config)
}

/// A rustls client configuration trusting only the Renkei CA, optionally presenting an office
/// certificate (`(certificate PEM, Ed25519 PKCS#8 DER)`); ALPN `h2` and `http/1.1`.
pub fn client_tls_config(
    ca_cert_pem: &str,
    identity: Option<(&str, &[u8])>,
) -> Result<ClientConfig, PkiError> {
    let builder = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_root_certificates(roots(ca_cert_pem)?);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert_pem, key_pkcs8)) => {
            let chain = certs_from_pem(cert_pem)?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec()));
            builder.with_client_auth_cert(chain, key).map_err(tls_err)?
        }
    };
    config.alpn_protocols = alpn();
    Ok(config)
}

/// The office certificate a TLS peer presented (rustls has already verified the chain; the
/// caller still checks revocation and office).
pub fn peer_office_cert(peer_certs: Option<&[CertificateDer<'_>]>) -> Result<OfficeCert, PkiError> {
    let first = peer_certs
        .and_then(|c| c.first())
        .ok_or(PkiError::NotOfficeCert)?;
    OfficeCert::parse_der(first.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{now_millis, Ca, CertType, DeviceKeys};
    use renkei_ids::OfficeNumber;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Office {
        cert_pem: String,
        keys: DeviceKeys,
    }

    fn office(ca: &Ca, number: &str) -> Office {
        let office: OfficeNumber = number.parse().unwrap();
        let keys = DeviceKeys::generate().unwrap();
        let req = keys.enrollment_request(&office, "テスト").unwrap();
        let (nb, na) = CertType::Careplan.default_validity(now_millis());
        let issued = ca
            .issue_office_cert(&req, &office, "テスト", CertType::Careplan, nb, na)
            .unwrap();
        Office {
            cert_pem: issued.pem,
            keys,
        }
    }

    /// Run one handshake + echo on 127.0.0.1. Returns the office number the server saw, or the
    /// error text of whichever side failed.
    async fn handshake(
        server: ServerConfig,
        client: ClientConfig,
    ) -> Result<Option<String>, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let server_task = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
            let (_, conn) = tls.get_ref();
            let seen = peer_office_cert(conn.peer_certificates())
                .ok()
                .map(|c| c.office().to_string());
            let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            tls.write_all(&buf).await.map_err(|e| e.to_string())?;
            tls.shutdown().await.ok();
            Ok::<_, String>((seen, alpn))
        });
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let client_result = async {
            let mut tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            assert_eq!(&buf, b"ping");
            Ok::<_, String>(())
        }
        .await;
        let server_result = server_task.await.unwrap();
        client_result?;
        let (seen, alpn) = server_result?;
        assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
        Ok(seen)
    }

    #[tokio::test]
    async fn mutual_tls_with_ed25519_client_cert() {
        let ca = Ca::generate("Renkei Test CA").unwrap();
        let server = ca
            .issue_server_cert(&["127.0.0.1".into(), "localhost".into()])
            .unwrap();
        let alice = office(&ca, "0300000100");
        let server_cfg = || {
            server_tls_config(
                &server.cert.pem,
                &server.key_pem,
                ca.ca_cert_pem(),
                ClientAuth::Required,
            )
            .unwrap()
        };

        // Accepted: an office certificate of our CA.
        let client = client_tls_config(
            ca.ca_cert_pem(),
            Some((&alice.cert_pem, alice.keys.signing_pkcs8())),
        )
        .unwrap();
        assert_eq!(
            handshake(server_cfg(), client).await.unwrap().as_deref(),
            Some("0300000100")
        );

        // Refused: an office certificate from another CA.
        let rogue_ca = Ca::generate("Renkei Test CA").unwrap();
        let mallory = office(&rogue_ca, "0300000100");
        let client = client_tls_config(
            ca.ca_cert_pem(),
            Some((&mallory.cert_pem, mallory.keys.signing_pkcs8())),
        )
        .unwrap();
        assert!(handshake(server_cfg(), client).await.is_err());

        // Refused: no certificate when one is required; accepted when optional.
        let client = client_tls_config(ca.ca_cert_pem(), None).unwrap();
        assert!(handshake(server_cfg(), client).await.is_err());
        let optional = server_tls_config(
            &server.cert.pem,
            &server.key_pem,
            ca.ca_cert_pem(),
            ClientAuth::Optional,
        )
        .unwrap();
        let client = client_tls_config(ca.ca_cert_pem(), None).unwrap();
        assert_eq!(handshake(optional, client).await.unwrap(), None);

        // Refused by the client: a server certificate from another CA.
        let rogue_server = rogue_ca.issue_server_cert(&["127.0.0.1".into()]).unwrap();
        let rogue_cfg = server_tls_config(
            &rogue_server.cert.pem,
            &rogue_server.key_pem,
            ca.ca_cert_pem(),
            ClientAuth::None,
        )
        .unwrap();
        let client = client_tls_config(ca.ca_cert_pem(), None).unwrap();
        assert!(handshake(rogue_cfg, client).await.is_err());
    }
}
