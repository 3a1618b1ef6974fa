//! `renkei` — the one binary of Renkei (ケアプランデータ連携).
//!
//! Thin by design: it parses arguments and configuration, sets up logging, calls into the
//! library crates, prints, and owns the exit codes.

mod cmd;
mod logging;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than the system allocator: the relay allocates and frees per request (HTTP
/// frames, JSON, receipts) across threads, where glibc malloc showed ≈ 8 % of a load run's CPU
/// (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Renkei — ケアプランデータ連携（居宅介護支援事業所とサービス事業所の予定・実績のやり取り）
/// / care plan data linkage between care offices.
#[derive(Debug, Parser)]
#[command(name = "renkei", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// ログの形式: text または json / log format: text or json
    #[arg(long, global = true, env = "RENKEI_LOG_FORMAT", value_parser = ["text", "json"])]
    log_format: Option<String>,

    /// ログの詳細度（例: info, debug） / log filter (e.g. info, debug)
    #[arg(long, global = true, env = "RENKEI_LOG")]
    log_level: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// デモ環境を起動（中継・ポータル・2事業所）/ Run the demo: relay, portal and two enrolled offices
    Demo(cmd::server::DemoArgs),
    /// 中継サーバーとポータルを起動 / Run the relay and the portal
    Server(cmd::server::ServerArgs),
    /// クライアント（送受信・監視フォルダ・画面） / The office client: send, receive, watch folders, UI
    Client(cmd::client::ClientArgs),
    /// 標準仕様CSVを検査（ベンダー向け適合チェック） / Validate standard CSV files (conformance checker)
    Validate(cmd::format::ValidateArgs),
    /// CSVを帳票の形のHTMLにする / Render a CSV file as its printed form (HTML)
    Render(cmd::format::RenderArgs),
    /// 2つのCSVの違いを項目ごとに表示 / Show item-by-item differences between two files
    Diff(cmd::format::DiffArgs),
    /// 正しい見本ファイルを作る / Write valid sample files
    Sample(cmd::format::SampleArgs),
    /// 受領証・送信証明書・監査証跡をオフラインで検証 / Verify receipts, transmission certificates and audit trails offline
    Verify(cmd::verify::VerifyArgs),
    /// 月初の送信ピークを再現して中継の性能を測る / Replay the month-start peak against a relay
    Loadtest(cmd::loadtest::LoadtestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One crypto provider for every TLS connection in the process (ring; no aws-lc).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("エラー / error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let log = logging::LogOptions {
        format: cli.log_format.clone(),
        level: cli.log_level.clone(),
    };
    match cli.command {
        Command::Demo(args) => cmd::server::demo(args, log),
        Command::Server(args) => cmd::server::server(args, log),
        Command::Client(args) => {
            logging::init(&log, "text", "warn");
            cmd::client::run(args)
        }
        Command::Validate(args) => cmd::format::validate(&args),
        Command::Render(args) => cmd::format::render(&args),
        Command::Diff(args) => cmd::format::diff(&args),
        Command::Sample(args) => cmd::format::sample(&args),
        Command::Verify(args) => cmd::verify::run(&args),
        Command::Loadtest(args) => {
            logging::init(&log, "text", "warn");
            cmd::loadtest::run(args)
        }
    }
}
