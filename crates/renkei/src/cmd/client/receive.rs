//! `inbox`, `fetch` and `ack`: the received messages, importing them and 差し戻し.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::Args;
use renkei_client::api::{MessageId, RejectReason};
use renkei_client::Office;

use super::{online, print_json, ClientArgs};

/// `fetch`
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// 保存先（省略時は設定の取込フォルダ）/ output folder (default: the import folder)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// このメッセージだけ / only this message
    #[arg(long)]
    pub id: Option<String>,
}

/// `ack`
#[derive(Debug, Args)]
pub struct AckArgs {
    /// メッセージID / message id
    pub id: String,
    /// 差し戻しの理由（指定すると差し戻し）/ reject with this reason
    #[arg(long)]
    pub reject: Option<String>,
    /// 取り込み先（差し戻ししない場合）/ import folder when importing
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `renkei client inbox`.
pub(super) async fn inbox(args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let o = online(args).await?;
    let items = o.inbox(200).await?;
    if args.json {
        print_json(&items)?;
    } else if items.is_empty() {
        println!("受信箱は空です / the inbox is empty");
    } else {
        for i in items {
            println!(
                "{} {} {}（{}）{} {} {}",
                if i.unread { "●未読" } else { "　　　" },
                i.message.id,
                i.sender_name,
                i.message.sender,
                i.kinds.join("・"),
                i.months.join(","),
                i.message.state.label_ja()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `renkei client fetch`.
pub(super) async fn fetch(args: &ClientArgs, a: &FetchArgs) -> anyhow::Result<ExitCode> {
    let o = online(args).await?;
    let results = match &a.id {
        Some(id) => {
            let id: MessageId = id
                .parse()
                .map_err(|_| anyhow!("メッセージIDが正しくありません / bad message id"))?;
            vec![o
                .import(id, a.out.as_deref())
                .await
                .map_err(|e| (id.to_string(), e))]
        }
        None => o.import_all(a.out.as_deref()).await?,
    };
    let mut failed = false;
    let mut json = Vec::new();
    for r in results {
        match r {
            Ok(out) => {
                failed |= out.state == "rejected";
                if !args.json {
                    println!(
                        "{} {} 連番 {}: {}",
                        out.message_id, out.sender, out.file_seq, out.state
                    );
                    for p in &out.written {
                        println!("  {}", p.display());
                    }
                    for r in Office::reasons_text(&out.reasons) {
                        println!("  差し戻し理由 / reason: {r}");
                    }
                }
                json.push(serde_json::to_value(&out)?);
            }
            Err((id, e)) => {
                failed = true;
                if !args.json {
                    eprintln!("{id}: {e}");
                }
                json.push(serde_json::json!({ "message_id": id, "state": "error", "error": e.to_string() }));
            }
        }
    }
    if args.json {
        print_json(&json)?;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `renkei client ack`.
pub(super) async fn ack(args: &ClientArgs, a: &AckArgs) -> anyhow::Result<ExitCode> {
    let o = online(args).await?;
    let id: MessageId =
        a.id.parse()
            .map_err(|_| anyhow!("メッセージIDが正しくありません / bad message id"))?;
    let out = match &a.reject {
        Some(reason) => {
            o.reject(
                id,
                vec![RejectReason {
                    file: None,
                    line: None,
                    item: None,
                    code: "rejected_by_user".into(),
                    message: Some(reason.clone()),
                }],
            )
            .await?
        }
        None => o.import(id, a.out.as_deref()).await?,
    };
    if args.json {
        print_json(&out)?;
    } else {
        println!("{}: {}", out.message_id, out.state);
    }
    Ok(ExitCode::SUCCESS)
}
