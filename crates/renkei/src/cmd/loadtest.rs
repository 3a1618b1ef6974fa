//! `renkei loadtest`: the month-start peak against a relay; prints a final JSON line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use renkei_loadtest::{measure_fsync_writes, LoadOptions, Participant};

/// `renkei loadtest` options.
#[derive(Debug, Args)]
pub struct LoadtestArgs {
    /// 起動中の `renkei demo --data-dir DIR` の事業所で負荷をかける / drive the offices of a running demo in DIR
    #[arg(long, value_name = "DIR", conflicts_with = "spawn")]
    demo: Option<PathBuf>,
    /// このプロセス内で中継を起動し、事業所を登録して負荷をかける / start a relay in this process with --offices enrolled offices
    #[arg(long)]
    spawn: bool,
    /// --spawn で登録する事業所の数 / offices to enroll with --spawn
    #[arg(long, default_value_t = 20)]
    offices: usize,
    /// --spawn のメタデータDB（既定は SQLite） / --spawn metadata database URL (default SQLite)
    #[arg(long, default_value = "")]
    database_url: String,
    /// --spawn のペイロード保存先（既定はディレクトリ） / --spawn payload store URL (default a directory)
    #[arg(long, default_value = "")]
    blob_url: String,
    /// --spawn のデータディレクトリ（既定は一時ディレクトリ） / --spawn data directory (default: a temporary one)
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// 送信を続ける秒数 / seconds of sending
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// 毎秒の送信数（0は上限なし） / offered sends per second (0 = as fast as the concurrency allows)
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// 同時送信数 / concurrent sends
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// ファイルの最小サイズ（KB） / smallest file, KB
    #[arg(long, default_value_t = 5)]
    min_kb: usize,
    /// ファイルの最大サイズ（KB） / largest file, KB
    #[arg(long, default_value_t = 200)]
    max_kb: usize,
    /// ディスクの fsync 書き込み性能の測定を省く / skip measuring the disk's fsync'd write rate
    #[arg(long)]
    no_baseline: bool,
    /// 暗号化・署名を負荷の最中に毎回行う（既定は開始前にまとめて行う） / seal every envelope
    /// during the load on this machine (default: seal a pool before the clock starts, as each
    /// office seals on its own PC in service)
    #[arg(long)]
    seal_each: bool,
    /// --spawn で負荷の前に投入する送受信済みメッセージの数（ストアが大きいときの挙動を測る） /
    /// finished messages to store before the load (--spawn), to measure the relay with a large store
    #[arg(long, default_value_t = 0, requires = "spawn")]
    prefill: u64,
}

/// Run `renkei loadtest`.
pub fn run(args: LoadtestArgs) -> anyhow::Result<ExitCode> {
    if args.demo.is_none() && !args.spawn {
        anyhow::bail!("--demo DIR か --spawn を指定してください / give --demo DIR or --spawn");
    }
    let opts = LoadOptions {
        duration: Duration::from_secs(args.seconds.max(1)),
        rate: args.rate,
        concurrency: args.concurrency.max(1),
        min_bytes: args.min_kb.max(1) * 1024,
        max_bytes: args.max_kb.max(args.min_kb.max(1)) * 1024,
        seed: 1,
        seal_each: args.seal_each,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut tmp = None;
        let (participants, baseline_dir, spawned) = if let Some(dir) = &args.demo {
            (Participant::from_demo(dir).await?, dir.join("server"), None)
        } else {
            let dir = match &args.data_dir {
                Some(d) => d.clone(),
                None => {
                    let d = tempdir()?;
                    tmp = Some(d.clone());
                    d
                }
            };
            let s = renkei_loadtest::spawn::spawn(
                &dir,
                &args.database_url,
                &args.blob_url,
                args.offices.max(2),
            )
            .await?;
            if args.prefill > 0 {
                let took = renkei_loadtest::spawn::prefill(&s, args.prefill, 64).await?;
                eprintln!(
                    "履歴 {} 件を投入しました / prefilled {} messages in {:.1} s",
                    args.prefill,
                    args.prefill,
                    took.as_secs_f64()
                );
            }
            let dir = s.data_dir.join("server");
            (s.participants, dir, Some(s.server))
        };
        let baseline = if args.no_baseline {
            None
        } else {
            let dir = baseline_dir.clone();
            let (min, max, c) = (opts.min_bytes, opts.max_bytes, opts.concurrency);
            let b = tokio::task::spawn_blocking(move || {
                measure_fsync_writes(&dir, Duration::from_secs(3), c, min, max)
            })
            .await??;
            eprintln!(
                "ディスクの fsync 書き込み / disk fsync'd writes: {:.1}/s",
                b.writes_per_s
            );
            Some(b)
        };
        eprintln!(
            "負荷を開始します / starting load: {} offices, {} s",
            participants.len(),
            opts.duration.as_secs()
        );
        let memory = spawned
            .is_some()
            .then(renkei_loadtest::spawn::process_memory_mib)
            .flatten();
        let mut report = renkei_loadtest::run(participants, &opts).await?;
        report.prefilled = args.prefill;
        if spawned.is_none() {
            // Only the load generator runs in this process: its CPU is not the relay's.
            report.cpu_s = None;
            report.cpu_ms_per_file = None;
        }
        if let Some((start, _)) = memory {
            let end = renkei_loadtest::spawn::process_memory_mib();
            report.rss_mib_start = Some(start);
            report.rss_mib_end = end.map(|(rss, _)| rss);
            report.rss_mib_peak = end.map(|(_, peak)| peak);
        }
        if let Some(b) = baseline {
            report.set_baseline(&b);
        }
        if let Some(server) = spawned {
            server.shutdown().await?;
        }
        if let Some(d) = tmp {
            let _ = std::fs::remove_dir_all(d);
        }
        println!("{}", serde_json::to_string(&report)?);
        Ok(if report.errors == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("renkei-loadtest-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
