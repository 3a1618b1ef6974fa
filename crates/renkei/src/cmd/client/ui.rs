//! `ui`: the local web UI on 127.0.0.1, opened with a one-time secret in its URL.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use renkei_client::Home;

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
    let home = Home::open(&home_dir(args)?)?;
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
    renkei_client_web::serve(home, listener, secret, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
