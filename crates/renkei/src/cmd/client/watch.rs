//! `watch`: send complete units from the care software's export folder (and optionally import
//! received ones) on an interval.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use clap::Args;
use renkei_client::watch::FolderScanner;

use super::{online_or_queue, ClientArgs};

/// `watch`
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// 監視するフォルダ（省略時は設定）/ folder to watch (default: configured)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// 確認の間隔（秒）/ scan interval in seconds
    #[arg(long, default_value_t = 5)]
    pub interval: u64,
    /// 受信ファイルも取り込む / also import received units each round
    #[arg(long)]
    pub receive: bool,
    /// この回数だけ確認して終了（0 は無限）/ stop after this many scans (0 = forever)
    #[arg(long, default_value_t = 0)]
    pub scans: u64,
}

/// `renkei client watch`.
pub(super) async fn watch(args: &ClientArgs, a: &WatchArgs) -> anyhow::Result<ExitCode> {
    // The relay may be down when the watcher starts or at any time after: units then wait in
    // the outbox, and the loop keeps going (one bad pass never stops the watcher).
    let o = online_or_queue(args).await?;
    let dir = a
        .dir
        .clone()
        .or_else(|| o.home().watch_dir())
        .ok_or_else(|| anyhow!("監視するフォルダを --dir か設定で指定してください / give --dir"))?;
    let mut scanner = FolderScanner::new();
    let mut n = 0u64;
    loop {
        let outs = match o.watch_once(&dir, &mut scanner).await {
            Ok(outs) => outs,
            Err(e) => {
                eprintln!("{e}");
                Vec::new()
            }
        };
        for out in outs {
            if args.json {
                println!("{}", serde_json::to_string(&out)?);
            } else {
                println!(
                    "{} {}: {} {}",
                    out.seq,
                    out.files.join(","),
                    out.result,
                    out.detail
                );
            }
        }
        if let Err(e) = o.flush_outbox(|_| {}).await {
            eprintln!("{e}");
        }
        let mut receive_clean = true;
        if a.receive {
            let received = match o.import_all(None).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    receive_clean = false;
                    Vec::new()
                }
            };
            receive_clean &= received.iter().all(Result::is_ok);
            for r in received {
                match r {
                    Ok(out) if args.json => println!("{}", serde_json::to_string(&out)?),
                    Ok(out) => println!(
                        "受信 / received {} {}: {}",
                        out.sender, out.file_seq, out.state
                    ),
                    Err((id, e)) => eprintln!("{id}: {e}"),
                }
            }
        }
        n += 1;
        if a.scans != 0 && n >= a.scans {
            break;
        }
        let interval = Duration::from_secs(a.interval.max(1));
        let started = std::time::Instant::now();
        // After a clean receiving round nothing is unread, so waiting on the inbox itself (long
        // poll) ends the moment a new unit arrives and the next round imports it at once. After
        // a round with a failure, the failed message is still unread: keep the interval then.
        if a.receive && receive_clean {
            match o.wait_for_unread(interval).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => eprintln!("{e}"),
            }
        }
        tokio::time::sleep(interval.saturating_sub(started.elapsed())).await;
    }
    Ok(ExitCode::SUCCESS)
}
