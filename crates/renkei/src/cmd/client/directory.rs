//! `directory` and `favourites`: finding partner offices.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use renkei_client::api::DirectoryQuery;

use super::{office, online, print_json, ClientArgs};

/// `directory`
#[derive(Debug, Args)]
pub struct DirectoryArgs {
    #[command(subcommand)]
    pub command: DirectoryCommand,
}

/// `directory …`
#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// 検索 / search
    Search {
        /// 事業所番号（前方一致）/ number prefix
        #[arg(long)]
        number: Option<String>,
        /// 事業所名の一部 / part of the name
        #[arg(long)]
        name: Option<String>,
        /// 都道府県番号 / prefecture code
        #[arg(long)]
        prefecture: Option<u8>,
        /// サービス種類コード / service kind code
        #[arg(long)]
        kind: Option<String>,
    },
}

/// `favourites`
#[derive(Debug, Args)]
pub struct FavouritesArgs {
    /// 追加する事業所番号 / add this office
    #[arg(long)]
    pub add: Option<String>,
    /// 追加する事業所の名前 / name for the added office
    #[arg(long)]
    pub name: Option<String>,
    /// 外す事業所番号 / remove this office
    #[arg(long)]
    pub remove: Option<String>,
}

/// `renkei client directory search`.
pub(super) async fn directory(args: &ClientArgs, a: &DirectoryArgs) -> anyhow::Result<ExitCode> {
    let DirectoryArgs {
        command:
            DirectoryCommand::Search {
                number,
                name,
                prefecture,
                kind,
            },
    } = a;
    let o = online(args).await?;
    let items = o
        .search_directory(&DirectoryQuery {
            number: number.clone(),
            name: name.clone(),
            prefecture: *prefecture,
            kind: kind.clone(),
            ..Default::default()
        })
        .await?;
    if args.json {
        print_json(&items)?;
    } else {
        for e in items {
            let accepts = if e.accepts.is_empty() {
                "標準仕様のすべて / every kind".to_owned()
            } else {
                e.accepts.join(" ")
            };
            println!(
                "{} {} 種類{} {} 受付: {}",
                e.number,
                e.name,
                e.kind,
                if e.enrolled {
                    "利用中 / enrolled"
                } else {
                    "未利用 / not enrolled"
                },
                accepts
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `renkei client favourites`.
pub(super) async fn favourites(args: &ClientArgs, a: &FavouritesArgs) -> anyhow::Result<ExitCode> {
    let o = office(args).await?;
    if let Some(add) = &a.add {
        let number: renkei_ids::OfficeNumber = add.parse()?;
        let name = match &a.name {
            Some(n) => n.clone(),
            None => {
                o.ensure_session().await.ok();
                o.office_display_name(number.as_str()).await
            }
        };
        o.db().add_favourite(number.as_str(), &name).await?;
    }
    if let Some(rm) = &a.remove {
        o.db().remove_favourite(rm).await?;
    }
    let favs = o.db().favourites().await?;
    if args.json {
        print_json(&favs)?;
    } else {
        for f in favs {
            println!("{} {}", f.office, f.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
