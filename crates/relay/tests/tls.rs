//! A real relay on 127.0.0.1:0 over mutual TLS, with real clients (reqwest on rustls): HTTP/2
//! and HTTP/1.1, login, streaming send, download, a client without a certificate, and an upload
//! cut off half-way.

mod common;

use std::sync::Arc;

use common::*;
use renkei_api::{ErrorCode, MessagePage, Problem, SendResponse};
use renkei_pki::tls::{client_tls_config, server_tls_config};
use renkei_pki::ClientAuth;
use renkei_relay::RelayConfig;
use sha2::{Digest, Sha256};

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(fx: &Fixture) -> Server {
    let tls = server_tls_config(
        &fx.pki.server.cert.pem,
        &fx.pki.server.key_pem,
        fx.pki.ca.ca_cert_pem(),
        ClientAuth::Optional,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(renkei_relay::serve(
        listener,
        Arc::new(tls),
        fx.app.clone(),
        async {
            let _ = rx.await;
        },
    ));
    Server {
        base: format!("https://localhost:{port}/api/v1"),
        stop: Some(tx),
        task,
    }
}

fn client(fx: &Fixture, party: Option<&Party>, http1: bool) -> reqwest::Client {
    let keys;
    let identity = match party {
        Some(p) => {
            keys = p.keys.signing_pkcs8().to_vec();
            Some((p.cert.pem.as_str(), keys.as_slice()))
        }
        None => None,
    };
    let mut tls = client_tls_config(fx.pki.ca.ca_cert_pem(), identity).unwrap();
    if http1 {
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_end_to_end() {
    let (store, d1) = sqlite_store().await;
    let (blobs, d2) = local_blobs().await;
    let mut fx = fixture(store, blobs, RelayConfig::default()).await;
    fx.keep(d1);
    fx.keep(d2);
    let mut srv = start(&fx).await;

    // A over HTTP/2, B over HTTP/1.1.
    let http_a = client(&fx, Some(&fx.a), false);
    let http_b = client(&fx, Some(&fx.b), true);
    let token_a = node::login(&http_a, &srv.base, &fx.a).await;
    let token_b = node::login(&http_b, &srv.base, &fx.b).await;

    // Streaming upload in small chunks.
    let env = fx.envelope(&fx.a, &fx.b, &vec![b'x'; 100_000]);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        env.chunks(7_000).map(|c| Ok(c.to_vec())).collect();
    let resp = http_a
        .post(format!("{}/messages", srv.base))
        .bearer_auth(&token_a)
        .header("idempotency-key", "tls-1")
        .header("x-renkei-sha256", hex::encode(Sha256::digest(&env)))
        .header("x-renkei-length", env.len().to_string())
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 201);
    let sent: SendResponse = resp.json().await.unwrap();

    let inbox = http_b
        .get(format!("{}/messages/inbox", srv.base))
        .bearer_auth(&token_b)
        .send()
        .await
        .unwrap();
    assert_eq!(inbox.version(), reqwest::Version::HTTP_11);
    let inbox: MessagePage = inbox.json().await.unwrap();
    assert_eq!(inbox.items[0].id, sent.message.id);
    let body = http_b
        .get(format!("{}/messages/{}/content", srv.base, sent.message.id))
        .bearer_auth(&token_b)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.as_ref(), env.as_slice());

    // A's token from B's connection is refused; so is a client without a certificate.
    let r = http_b
        .get(format!("{}/messages/outbox", srv.base))
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(
        r.json::<Problem>().await.unwrap().code,
        ErrorCode::TokenCertMismatch.code()
    );
    let anon = client(&fx, None, false);
    let r = anon
        .get(format!("{}/messages/inbox", srv.base))
        .bearer_auth(&token_a)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Problem>().await.unwrap().code,
        ErrorCode::ClientCertRequired.code()
    );
    // The OpenAPI document is served.
    let doc: serde_json::Value = anon
        .get(format!("{}/openapi.json", srv.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc,
        serde_json::from_str::<serde_json::Value>(&renkei_relay::openapi_json()).unwrap()
    );

    // An upload that dies half-way leaves nothing visible.
    let env2 = fx.envelope(&fx.a, &fx.b, &vec![b'y'; 200_000]);
    let half = env2[..env2.len() / 2].to_vec();
    let stream = futures::stream::iter(vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "cable pulled",
        )),
    ]);
    let r = http_a
        .post(format!("{}/messages", srv.base))
        .bearer_auth(&token_a)
        .header("idempotency-key", "tls-2")
        .header("x-renkei-sha256", hex::encode(Sha256::digest(&env2)))
        .header("x-renkei-length", env2.len().to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    assert!(r.is_err() || !r.unwrap().status().is_success());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(fx
        .store
        .message_by_idempotency_key(&fx.a.number, "tls-2")
        .await
        .unwrap()
        .is_none());
    let inbox: MessagePage = http_b
        .get(format!("{}/messages/inbox", srv.base))
        .bearer_auth(&token_b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inbox.items.len(), 1);
    // The retry with the same key goes through.
    let r = http_a
        .post(format!("{}/messages", srv.base))
        .bearer_auth(&token_a)
        .header("idempotency-key", "tls-2")
        .header("x-renkei-sha256", hex::encode(Sha256::digest(&env2)))
        .header("x-renkei-length", env2.len().to_string())
        .body(env2.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    srv.stop.take().unwrap().send(()).unwrap();
    srv.task.await.unwrap().unwrap();
}
