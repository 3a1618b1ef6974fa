//! `renkei client …`: the care office's client on the command line (scriptable; `--json` for
//! machine output). The same library drives the local web UI (`renkei client ui`).
//!
//! Secrets never go on the command line: the keystore passphrase comes from
//! `--passphrase-file`, `RENKEI_PASSPHRASE` or a prompt; passwords from `--*-password-file`,
//! the environment or a prompt.
//!
//! One file per command group: [`setup`] (init, enroll, login), [`send`] (send, outbox),
//! [`receive`] (inbox, fetch, ack), [`watch`], [`directory`] (directory, favourites),
//! [`history`] (history, export-evidence) and [`ui`].

mod directory;
mod history;
mod receive;
mod send;
mod setup;
mod ui;
mod watch;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use renkei_client::{Home, Office};

pub use directory::{DirectoryArgs, FavouritesArgs};
pub use history::{ExportArgs, HistoryArgs};
pub use receive::{AckArgs, FetchArgs};
pub use send::{OutboxArgs, SendArgs};
pub use setup::{EnrollArgs, InitArgs, LoginArgs};
pub use ui::UiArgs;
pub use watch::WatchArgs;

/// クライアント（事業所の端末）/ the office client
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// クライアントの保存フォルダ（省略時はOSごとの既定） / client home directory (per-OS default)
    #[arg(long, global = true, env = "RENKEI_CLIENT_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// 鍵ファイルのパスフレーズを読むファイル / file holding the keystore passphrase
    #[arg(
        long,
        global = true,
        env = "RENKEI_PASSPHRASE_FILE",
        value_name = "FILE"
    )]
    pub passphrase_file: Option<PathBuf>,
    /// 結果をJSONで出力 / machine-readable JSON output
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ClientCommand,
}

/// Subcommands of `renkei client`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// 初期設定（接続先と認証局証明書、鍵の作成）/ set up the home: server URLs, CA certificate, device keys
    Init(InitArgs),
    /// 証明書を発行してこの端末を登録 / enroll this device (issue the office certificate)
    Enroll(EnrollArgs),
    /// ログイン（個人ユーザID→介護電子請求用ユーザID）/ two-stage login; --remember keeps the credentials
    Login(LoginArgs),
    /// ファイルを送信 / send files (grouped into 送信単位, validated first)
    Send(SendArgs),
    /// 送信待ちの一覧と再送 / pending outbox; --flush sends it now
    Outbox(OutboxArgs),
    /// 受信箱 / list the inbox (unread first)
    Inbox,
    /// 受信して取り込みフォルダへ保存 / download, verify, decrypt and write received units
    Fetch(FetchArgs),
    /// 受信ファイルの取込完了・差し戻し / acknowledge a received message
    Ack(AckArgs),
    /// フォルダを監視して自動送信 / watch the export folder and send complete units
    Watch(WatchArgs),
    /// 相手先の検索 / search the office directory
    Directory(DirectoryArgs),
    /// お気に入りの相手先 / favourite partner offices
    Favourites(FavouritesArgs),
    /// 送信履歴と受領証 / send history with receipt chains
    History(HistoryArgs),
    /// 送信証明書・操作記録の書き出し / export transmission certificates and the audit trail
    ExportEvidence(ExportArgs),
    /// 画面（ブラウザ）を起動 / start the local web UI and print its URL
    Ui(UiArgs),
}

/// Run `renkei client …`.
pub fn run(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

fn home_dir(args: &ClientArgs) -> anyhow::Result<PathBuf> {
    args.home
        .clone()
        .or_else(Home::default_dir)
        .ok_or_else(|| anyhow!("--home を指定してください / specify --home"))
}

/// Read a secret: file → environment variable → prompt on the terminal.
fn secret(file: Option<&Path>, env: &str, prompt: &str) -> anyhow::Result<String> {
    if let Some(f) = file {
        let s = std::fs::read_to_string(f)
            .with_context(|| format!("{} を読めません / cannot read", f.display()))?;
        return Ok(s.trim_end_matches(['\r', '\n']).to_owned());
    }
    if let Ok(v) = std::env::var(env) {
        return Ok(v);
    }
    eprint!("{prompt}: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        bail!("入力がありません / nothing entered ({env})");
    }
    Ok(line)
}

fn passphrase(args: &ClientArgs) -> anyhow::Result<String> {
    secret(
        args.passphrase_file.as_deref(),
        "RENKEI_PASSPHRASE",
        "パスフレーズ / passphrase",
    )
}

async fn office(args: &ClientArgs) -> anyhow::Result<Office> {
    let home = Home::open(&home_dir(args)?)?;
    Ok(Office::unlock(home, &passphrase(args)?).await?)
}

async fn online(args: &ClientArgs) -> anyhow::Result<Office> {
    let o = office(args).await?;
    o.ensure_session().await?;
    Ok(o)
}

/// Unlock and try to log in, but carry on when the relay cannot be reached: sends then wait
/// in the outbox and go out, in order, once it answers. A refusal (wrong password, revoked
/// certificate …) still stops here.
async fn online_or_queue(args: &ClientArgs) -> anyhow::Result<Office> {
    let o = office(args).await?;
    match o.ensure_session().await {
        Ok(()) => {}
        Err(e) if e.is_unreachable() => eprintln!("{e}"),
        Err(e) => return Err(e.into()),
    }
    Ok(o)
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn run_async(args: ClientArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        ClientCommand::Init(a) => setup::init(&args, a).await,
        ClientCommand::Enroll(a) => setup::enroll(&args, a).await,
        ClientCommand::Login(a) => setup::login(&args, a).await,
        ClientCommand::Send(a) => send::send(&args, a).await,
        ClientCommand::Outbox(a) => send::outbox(&args, a).await,
        ClientCommand::Inbox => receive::inbox(&args).await,
        ClientCommand::Fetch(a) => receive::fetch(&args, a).await,
        ClientCommand::Ack(a) => receive::ack(&args, a).await,
        ClientCommand::Watch(a) => watch::watch(&args, a).await,
        ClientCommand::Directory(a) => directory::directory(&args, a).await,
        ClientCommand::Favourites(a) => directory::favourites(&args, a).await,
        ClientCommand::History(a) => history::history(&args, a).await,
        ClientCommand::ExportEvidence(a) => history::export_evidence(&args, a).await,
        ClientCommand::Ui(a) => ui::ui(&args, a).await,
    }
}
