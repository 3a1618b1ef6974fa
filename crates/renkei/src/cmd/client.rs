//! `renkei client …`: the care office's client on the command line (scriptable; `--json` for
//! machine output). The same library drives the local web UI (`renkei client ui`).
//!
//! Secrets never go on the command line: the keystore passphrase comes from
//! `--passphrase-file`, `RENKEI_PASSPHRASE` or a prompt; passwords from `--*-password-file`,
//! the environment or a prompt.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use renkei_client::api::{DirectoryQuery, MessageId, RejectReason};
use renkei_client::watch::FolderScanner;
use renkei_client::{Credentials, EnrollInput, Home, Office, SendStage, UnitFile};

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

/// `init`
#[derive(Debug, Args)]
pub struct InitArgs {
    /// 中継サーバーのURL / relay URL
    #[arg(long)]
    pub relay_url: String,
    /// ポータルのURL / portal URL
    #[arg(long)]
    pub portal_url: String,
    /// 認証局証明書（PEM）/ CA certificate (PEM)
    #[arg(long, value_name = "FILE")]
    pub ca_cert: PathBuf,
    /// 受信ファイルの保存先（介護ソフトの取込フォルダ）/ import folder of the care software
    #[arg(long, value_name = "DIR")]
    pub import_dir: Option<PathBuf>,
    /// 介護ソフトの出力フォルダ（自動送信用）/ export folder to watch
    #[arg(long, value_name = "DIR")]
    pub watch_dir: Option<PathBuf>,
}

/// `enroll`
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// 介護保険事業所番号 / office number
    #[arg(long)]
    pub office: String,
    /// 介護電子請求用ユーザID / KJ ID
    #[arg(long)]
    pub kj_id: String,
    /// 証明書発行用パスワードを読むファイル（省略時は RENKEI_ISSUANCE_PASSWORD か入力）/ issuance password file
    #[arg(long, value_name = "FILE")]
    pub issuance_password_file: Option<PathBuf>,
    /// 証明書の種類: careplan（無料・ケアプラン連携用）または kaigo / certificate type
    #[arg(long, default_value = "careplan")]
    pub cert_type: String,
    /// 端末の名前 / device label
    #[arg(long, default_value = "renkei client")]
    pub device_label: String,
}

/// `login`
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// 個人ユーザID（c…）/ personal user ID
    #[arg(long)]
    pub user_id: Option<String>,
    /// 介護電子請求用ユーザID（KJ…）/ KJ ID
    #[arg(long)]
    pub kj_id: Option<String>,
    /// 個人ユーザのパスワードのファイル（省略時は RENKEI_USER_PASSWORD か入力）/ user password file
    #[arg(long, value_name = "FILE")]
    pub user_password_file: Option<PathBuf>,
    /// KJのパスワードのファイル（省略時は RENKEI_KJ_PASSWORD か入力）/ KJ password file
    #[arg(long, value_name = "FILE")]
    pub kj_password_file: Option<PathBuf>,
    /// ログイン情報を鍵ファイルに記憶（次回からはパスフレーズだけ）/ remember the credentials in the keystore
    #[arg(long)]
    pub remember: bool,
    /// 記憶したログイン情報を消す / forget remembered credentials
    #[arg(long, conflicts_with = "remember")]
    pub forget: bool,
}

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

/// `history`
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// 検索語（相手先・年月・利用者・ファイル名）/ search text
    #[arg(long)]
    pub search: Option<String>,
    /// 中継サーバーから最新の状態と受領証を取得 / refresh states and receipts from the relay
    #[arg(long)]
    pub refresh: bool,
    /// 件数 / how many
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
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

/// `ui`
#[derive(Debug, Args)]
pub struct UiArgs {
    /// 待受ポート（0 は自動）/ port on 127.0.0.1 (0 = any free port)
    #[arg(long, default_value_t = 0)]
    pub port: u16,
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

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
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

async fn run_async(args: ClientArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        ClientCommand::Init(a) => {
            let dir = home_dir(&args)?;
            let ca = std::fs::read_to_string(&a.ca_cert)
                .with_context(|| format!("{} を読めません", a.ca_cert.display()))?;
            let pass = passphrase(&args)?;
            let (mut home, _ks) = Home::create(&dir, &a.relay_url, &a.portal_url, &ca, &pass)?;
            if a.import_dir.is_some() || a.watch_dir.is_some() {
                home.update_config(|c| {
                    c.import_dir = a.import_dir.clone();
                    c.watch_dir = a.watch_dir.clone();
                })?;
            }
            if args.json {
                print_json(&serde_json::json!({ "home": dir, "initialised": true }))?;
            } else {
                println!("初期設定しました / initialised: {}", dir.display());
                println!("次に `renkei client enroll` で証明書を発行してください / next: renkei client enroll");
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientCommand::Enroll(a) => {
            let home = Home::open(&home_dir(&args)?)?;
            let mut ks = home.unlock(&passphrase(&args)?)?;
            let password = secret(
                a.issuance_password_file.as_deref(),
                "RENKEI_ISSUANCE_PASSWORD",
                "証明書発行用パスワード / issuance password",
            )?;
            let input = EnrollInput {
                office: a.office.parse()?,
                kj_id: a.kj_id.parse()?,
                issuance_password: password,
                cert_type: a.cert_type.parse()?,
                device_label: a.device_label.clone(),
            };
            let done = renkei_client::enroll(&home, &mut ks, &input).await?;
            if args.json {
                print_json(
                    &serde_json::json!({ "office": done.office, "serial": done.serial, "not_after_ms": done.not_after }),
                )?;
            } else {
                println!(
                    "証明書を発行しました / enrolled: 事業所 {} 証明書 {}",
                    done.office, done.serial
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientCommand::Login(a) => {
            let o = office(&args).await?;
            if a.forget {
                o.forget_credentials()?;
                println!("記憶したログイン情報を消しました / credentials forgotten");
                return Ok(ExitCode::SUCCESS);
            }
            let creds = match (&a.user_id, &a.kj_id) {
                (Some(u), Some(k)) => Some(Credentials {
                    user_id: u.parse()?,
                    user_password: secret(
                        a.user_password_file.as_deref(),
                        "RENKEI_USER_PASSWORD",
                        "個人ユーザのパスワード / user password",
                    )?,
                    kj_id: k.parse()?,
                    kj_password: secret(
                        a.kj_password_file.as_deref(),
                        "RENKEI_KJ_PASSWORD",
                        "KJのパスワード / KJ password",
                    )?,
                }),
                (None, None) => None,
                _ => bail!(
                    "--user-id と --kj-id は両方指定してください / give both --user-id and --kj-id"
                ),
            };
            let s = o.login(creds, a.remember).await?;
            if args.json {
                print_json(
                    &serde_json::json!({ "office": s.office, "user_id": s.user_id, "expires_at": s.expires_at.to_string(), "remembered": o.has_remembered_credentials() }),
                )?;
            } else {
                println!(
                    "ログインしました / logged in: 事業所 {} 利用者 {}",
                    s.office, s.user_id
                );
                if s.password_change_required {
                    println!("KJのパスワードは仮パスワードです。ポータルで変更してください / change the temporary KJ password in the portal");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientCommand::Send(a) => {
            let o = online(&args).await?;
            let to: renkei_ids::OfficeNumber = a.to.parse()?;
            let files = read_inputs(&a.files)?;
            let units = renkei_client::prepare_units(files.clone(), o.office())?;
            if let Some(u) = units.iter().find(|u| u.recipient != to) {
                bail!(
                    "ファイル名の送信先 {} が --to {} と一致しません / the file names address {}, not {}",
                    u.recipient, to, u.recipient, to
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
        ClientCommand::Outbox(a) => {
            let o = office(&args).await?;
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
        ClientCommand::Inbox => {
            let o = online(&args).await?;
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
        ClientCommand::Fetch(a) => {
            let o = online(&args).await?;
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
        ClientCommand::Ack(a) => {
            let o = online(&args).await?;
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
        ClientCommand::Watch(a) => {
            let o = online(&args).await?;
            let dir = a
                .dir
                .clone()
                .or_else(|| o.home().watch_dir())
                .ok_or_else(|| {
                    anyhow!("監視するフォルダを --dir か設定で指定してください / give --dir")
                })?;
            let mut scanner = FolderScanner::new();
            let mut n = 0u64;
            loop {
                for out in o.watch_once(&dir, &mut scanner).await? {
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
                if a.receive {
                    for r in o.import_all(None).await? {
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
                tokio::time::sleep(Duration::from_secs(a.interval.max(1))).await;
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientCommand::Directory(DirectoryArgs {
            command:
                DirectoryCommand::Search {
                    number,
                    name,
                    prefecture,
                    kind,
                },
        }) => {
            let o = online(&args).await?;
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
                    println!(
                        "{} {} 種類{} {}",
                        e.number,
                        e.name,
                        e.kind,
                        if e.enrolled {
                            "利用中 / enrolled"
                        } else {
                            "未利用 / not enrolled"
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ClientCommand::Favourites(a) => {
            let o = office(&args).await?;
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
        ClientCommand::History(a) => {
            let o = office(&args).await?;
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
        ClientCommand::ExportEvidence(a) => {
            let o = online(&args).await?;
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
        ClientCommand::Ui(a) => {
            let home = Home::open(&home_dir(&args)?)?;
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
    }
}
