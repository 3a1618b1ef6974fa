//! `ui`: the local web UI on 127.0.0.1, opened with a one-time secret in its URL. On a device
//! that was never set up it starts with the setup and enrollment pages.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::{home_dir, print_json, ClientArgs};

/// `ui`
#[derive(Debug, Args)]
pub struct UiArgs {
    /// 待受ポート（0 は自動）/ port on 127.0.0.1 (0 = any free port)
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// `renkei client ui`.
pub(super) async fn ui(args: &ClientArgs, a: &UiArgs) -> anyhow::Result<ExitCode> {
    // A home that does not exist yet is set up in the browser (/setup, then /enroll).
    let dir = home_dir(args)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", a.port)).await?;
    let secret = renkei_client_web::new_secret();
    let url = renkei_client_web::launch_url(listener.local_addr()?, &secret);
    if args.json {
        print_json(&serde_json::json!({ "url": url }))?;
    } else {
        println!("ブラウザで開いてください / open in your browser:\n{url}");
        println!("終了するには Ctrl+C / press Ctrl+C to stop");
    }
    std::io::stdout().flush()?;
    renkei_client_web::serve_dir(dir, listener, secret, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
