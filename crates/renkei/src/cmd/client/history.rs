//! `history` and `export-evidence`: the send history with its receipt chains, transmission
//! certificates and the audit trail.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{office, online, print_json, ClientArgs};

/// `history`
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// 検索語（相手先の番号・名前、年月、利用者、ファイル名）/ search text (partner number or name, month, client, file name)
    #[arg(long)]
    pub search: Option<String>,
    /// 中継サーバーから最新の状態と受領証を取得 / refresh states and receipts from the relay
    #[arg(long)]
    pub refresh: bool,
    /// 件数 / how many
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// 受信の履歴を表示（送信ではなく）/ list received messages instead of sends
    #[arg(long)]
    pub received: bool,
}

/// `export-evidence`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// 出力フォルダ / output folder
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// この送信の送信証明書（履歴の番号）/ transmission certificate of this send (history id)
    #[arg(long)]
    pub send: Option<i64>,
    /// 操作記録（監査証跡）も書き出す / also export the audit trail
    #[arg(long)]
    pub audit: bool,
}

/// `renkei client history`.
pub(super) async fn history(args: &ClientArgs, a: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let o = office(args).await?;
    if a.received {
        let list = o
            .db()
            .received_search(a.search.as_deref().unwrap_or(""), a.limit)
            .await?;
        if args.json {
            print_json(&list)?;
        } else {
            for r in list {
                println!(
                    "{} {} ← {} 連番 {} {} {} {}",
                    r.message_id, r.at, r.sender, r.file_seq, r.kinds, r.months, r.state
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let sends = o.db().sends(a.search.as_deref(), a.limit).await?;
    if a.refresh {
        o.ensure_session().await?;
        for s in &sends {
            if s.message_id.is_some() {
                o.refresh_send(s).await?;
            }
        }
    }
    let sends = o.db().sends(a.search.as_deref(), a.limit).await?;
    let mut out = Vec::new();
    for s in sends {
        let receipts = match &s.message_id {
            Some(m) => o.receipts(m).await?,
            None => Vec::new(),
        };
        out.push((s, receipts));
    }
    if args.json {
        let v: Vec<_> = out
            .iter()
            .map(|(s, r)| serde_json::json!({ "send": s, "receipts": r }))
            .collect();
        print_json(&v)?;
    } else {
        for (s, r) in out {
            let chain: Vec<&str> = r.iter().map(|r| r.receipt.event.as_str()).collect();
            println!(
                "{} {} → {} 連番 {} {} [{}]",
                s.id,
                s.created_at,
                s.recipient,
                s.file_seq,
                s.state,
                chain.join(" → ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `renkei client export-evidence`.
pub(super) async fn export_evidence(args: &ClientArgs, a: &ExportArgs) -> anyhow::Result<ExitCode> {
    let o = online(args).await?;
    let written = renkei_client::evidence::export(&o, &a.out, a.send, a.audit).await?;
    if args.json {
        print_json(&written)?;
    } else {
        for p in written {
            println!("{}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
