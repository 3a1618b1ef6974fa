//! `send` and `outbox`: checking, sealing and uploading 送信単位, and the offline outbox.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use renkei_client::{SendStage, UnitFile};

use super::{office, online_or_queue, print_json, ClientArgs};

/// `send`
#[derive(Debug, Args)]
pub struct SendArgs {
    /// 送信先の事業所番号（ファイル名の送信先と一致すること）/ recipient office (must match the file names)
    #[arg(long)]
    pub to: String,
    /// 誤りがあっても送信（記録されます）/ send despite validation errors (recorded)
    #[arg(long)]
    pub override_validation: bool,
    /// 送るファイルまたはフォルダ / files or folders
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// `outbox`
#[derive(Debug, Args)]
pub struct OutboxArgs {
    /// いま送信する / send the pending units now
    #[arg(long)]
    pub flush: bool,
}

/// Collect files: folders contribute their top-level files.
fn read_inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<UnitFile>> {
    let mut out = Vec::new();
    for p in paths {
        let mut list = Vec::new();
        if p.is_dir() {
            for e in std::fs::read_dir(p)? {
                let e = e?;
                if e.file_type()?.is_file() && !e.file_name().to_string_lossy().starts_with('.') {
                    list.push(e.path());
                }
            }
            list.sort();
        } else {
            list.push(p.clone());
        }
        for f in list {
            let bytes = std::fs::read(&f)
                .with_context(|| format!("{} を読めません / cannot read", f.display()))?;
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(UnitFile { name, bytes });
        }
    }
    Ok(out)
}

fn stage_ja(s: &SendStage) -> String {
    match s {
        SendStage::Queued => "送信待ち / queued".into(),
        SendStage::Sealing => "暗号化・署名中 / sealing".into(),
        SendStage::Uploading => "送信中 / uploading".into(),
        SendStage::Stored { message_id } => format!("送信完了 / stored ({message_id})"),
        SendStage::Waiting(why) => format!("接続待ち / waiting: {why}"),
        SendStage::Failed(why) => format!("送信できませんでした / failed: {why}"),
    }
}

/// `renkei client send`.
pub(super) async fn send(args: &ClientArgs, a: &SendArgs) -> anyhow::Result<ExitCode> {
    let o = online_or_queue(args).await?;
    let to: renkei_ids::OfficeNumber = a.to.parse()?;
    let files = read_inputs(&a.files)?;
    let units = renkei_client::prepare_units(files.clone(), o.office())?;
    if let Some(u) = units.iter().find(|u| u.recipient != to) {
        bail!(
            "ファイル名の送信先 {} が --to {} と一致しません / the file names address {}, not {}",
            u.recipient,
            to,
            u.recipient,
            to
        );
    }
    let bar = (!args.json).then(|| {
        let b = indicatif::ProgressBar::new(units.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let (ids, report) = o
        .send_files(files, "cli", a.override_validation, |p| {
            if let Some(b) = &bar {
                b.set_message(format!("{} {}", p.file_seq, stage_ja(&p.stage)));
                if matches!(
                    p.stage,
                    SendStage::Stored { .. } | SendStage::Failed(_) | SendStage::Waiting(_)
                ) {
                    b.inc(1);
                }
            }
        })
        .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut sends = Vec::new();
    for id in &ids {
        if let Some(s) = o.db().send(*id).await? {
            sends.push(s);
        }
    }
    if args.json {
        print_json(
            &serde_json::json!({ "sends": sends, "stored": report.stored, "failed": report.failed, "waiting": report.waiting }),
        )?;
    } else {
        for s in &sends {
            println!(
                "{} → {} 連番 {} : {} {}",
                s.id,
                s.recipient,
                s.file_seq,
                s.state,
                s.message_id.clone().unwrap_or_default()
            );
        }
        for (id, why) in &report.failed {
            eprintln!("送信できませんでした / failed {id}: {why}");
        }
        if !report.waiting.is_empty() {
            println!(
                "{}件は送信待ちです（接続が戻ると送信されます）/ {} queued",
                report.waiting.len(),
                report.waiting.len()
            );
        }
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `renkei client outbox`.
pub(super) async fn outbox(args: &ClientArgs, a: &OutboxArgs) -> anyhow::Result<ExitCode> {
    let o = office(args).await?;
    if a.flush {
        o.ensure_session().await?;
        let r = o
            .flush_outbox(|p| {
                if !args.json {
                    println!("{} {} {}", p.send_id, p.file_seq, stage_ja(&p.stage));
                }
            })
            .await?;
        if args.json {
            print_json(
                &serde_json::json!({ "stored": r.stored, "failed": r.failed, "waiting": r.waiting }),
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let items: Vec<_> = o.db().outbox().await?.into_iter().map(|i| i.send).collect();
    if args.json {
        print_json(&items)?;
    } else if items.is_empty() {
        println!("送信待ちはありません / the outbox is empty");
    } else {
        for s in items {
            println!(
                "{} → {} 連番 {} {}",
                s.id,
                s.recipient,
                s.file_seq,
                s.error.unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
