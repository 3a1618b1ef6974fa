//! `renkei server` and `renkei demo`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::logging::{self, LogOptions};

/// `renkei server` options.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// 設定ファイル（TOML） / configuration file (TOML)
    #[arg(long, short = 'c', env = "RENKEI_CONFIG")]
    config: Option<PathBuf>,
    /// 有効な設定を表示して終了（秘密は伏せ字） / print the effective configuration and exit (secrets redacted)
    #[arg(long)]
    print_config: bool,
    /// データディレクトリ / data directory (server.data_dir)
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// メタデータDBのURL（sqlite://… または postgres://…） / metadata database URL (storage.database_url)
    #[arg(long)]
    database_url: Option<String>,
    /// ペイロード保存先（ディレクトリ または s3://…） / payload store (storage.blob_url)
    #[arg(long)]
    blob_url: Option<String>,
    /// ポータルの待受アドレス / portal listen address (server.portal_listen)
    #[arg(long)]
    portal_listen: Option<String>,
    /// 中継APIの待受アドレス / relay listen address (server.relay_listen)
    #[arg(long)]
    relay_listen: Option<String>,
}

/// `renkei demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// デモのデータディレクトリ（2回目以降は再利用） / demo data directory (reused on the next start)
    #[arg(long, default_value = "renkei-demo")]
    data_dir: PathBuf,
    /// ポータルの待受アドレス（中継とクライアント画面は続くポート） / portal address; the relay and the client UIs use the next ports
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
}

impl ServerArgs {
    fn flag_overrides(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(d) = &self.data_dir {
            v.push(("server.data_dir", d.display().to_string()));
        }
        if let Some(u) = &self.database_url {
            v.push(("storage.database_url", u.clone()));
        }
        if let Some(u) = &self.blob_url {
            v.push(("storage.blob_url", u.clone()));
        }
        if let Some(a) = &self.portal_listen {
            v.push(("server.portal_listen", a.clone()));
        }
        if let Some(a) = &self.relay_listen {
            v.push(("server.relay_listen", a.clone()));
        }
        v
    }
}

/// Run `renkei server`.
pub fn server(args: ServerArgs, log: LogOptions) -> anyhow::Result<ExitCode> {
    let loaded = renkei_server::config::load(
        args.config.as_deref(),
        std::env::vars(),
        &args.flag_overrides(),
    )?;
    if args.print_config {
        println!("{:#?}", loaded.config);
        return Ok(ExitCode::SUCCESS);
    }
    logging::init(&log, &loaded.config.log.format, &loaded.config.log.level);
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let config = loaded.config;
    runtime()?.block_on(async move {
        let mut running = renkei_server::start(&config).await?;
        running.set_ready();
        eprintln!("ポータル / portal: {}", running.portal_url);
        eprintln!("中継 / relay:      {}", running.relay_url);
        eprintln!("停止するには Ctrl-C / press Ctrl-C to stop");
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            () = terminate() => {}
            e = running.wait_failure() => return Err(e.into()),
        }
        eprintln!("停止しています… / shutting down…");
        running.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Run `renkei demo`.
pub fn demo(args: DemoArgs, log: LogOptions) -> anyhow::Result<ExitCode> {
    logging::init(&log, "text", "info");
    let listen: std::net::SocketAddr = args
        .listen
        .parse()
        .map_err(|e| anyhow::anyhow!("--listen は 127.0.0.1:PORT の形で指定してください / --listen must be 127.0.0.1:PORT ({e})"))?;
    runtime()?.block_on(async move {
        let demo = renkei_server::demo::start_demo(&args.data_dir, listen).await?;
        print_demo(&demo.file, &args.data_dir);
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            () = terminate() => {}
        }
        eprintln!("停止しています… / shutting down…");
        demo.shutdown().await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn print_demo(file: &renkei_server::demo_file::DemoFile, dir: &std::path::Path) {
    println!();
    println!("Renkei デモ環境が起動しました / the Renkei demo is running");
    println!();
    println!("  ポータル / portal:  {}", file.portal_url);
    println!(
        "    国保連（運用者）/ operator: {}/operator/login  ID {}  パスワード {}",
        file.portal_url, file.operator.login, file.operator.password
    );
    println!("  中継 / relay:       {}", file.relay_url);
    for o in &file.offices {
        println!();
        println!(
            "  {}（事業所番号 {}、種類 {}）",
            o.name, o.office_number, o.kind
        );
        println!("    画面 / client UI:  {}", o.client_url);
        println!(
            "    個人ユーザID {} / パスワード {}",
            o.user_id, o.user_password
        );
        println!("    KJ ID {} / パスワード {}", o.kj_id, o.kj_password);
        println!("    CLI: renkei client --home {} …", o.client_home);
    }
    println!();
    println!(
        "  認証情報は {} にあります / credentials are in that file",
        dir.join("demo.json").display()
    );
    println!("  停止するには Ctrl-C / press Ctrl-C to stop");
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Resolves on SIGTERM (Unix); never elsewhere.
async fn terminate() {
    #[cfg(unix)]
    {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await
}
