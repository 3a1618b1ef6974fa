//! The test browser itself works: a real headless Chromium renders a page served on loopback,
//! JavaScript errors are caught, and screenshots are real PNGs.

use std::time::Duration;

use renkei_testkit::{free_port, Browser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn serve_once(listener: tokio::net::TcpListener, body: &'static str) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                body.len(),
                body
            );
            let _ = s.write_all(resp.as_bytes()).await;
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn headless_chromium_renders_japanese_and_reports_js_errors() {
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(serve_once(
        listener,
        "<!doctype html><html lang=ja><meta charset=utf-8><title>t</title><h1 id=h>受信箱</h1>\
         <button id=b onclick=\"document.getElementById('h').textContent='取り込み済み'\">押す</button>\
         <button id=bad onclick=\"undefinedFunction()\">壊れた</button>",
    ));
    let browser = Browser::start()
        .await
        .expect("headless Chromium must start (bash .ci/setup installs it)");
    browser
        .goto(&format!("http://127.0.0.1:{port}/"))
        .await
        .unwrap();
    browser.watch_errors().await.unwrap();
    assert!(browser.text().await.unwrap().contains("受信箱"));
    browser.click_css("#b").await.unwrap();
    browser
        .wait_for_text("取り込み済み", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(browser.js_errors().await.unwrap().is_empty());
    browser.click_css("#bad").await.unwrap();
    let errors = browser.js_errors().await.unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let dir = tempfile_dir();
    let png = dir.join("shot.png");
    browser.screenshot(&png).await.unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let pdf = browser.print_pdf().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    browser.quit().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("renkei-testkit-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
