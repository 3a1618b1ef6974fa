//! `init`, `enroll` and `login`: setting up the home, the device certificate and the session.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use renkei_client::{Credentials, EnrollInput, Home};

use super::{home_dir, office, passphrase, print_json, secret, ClientArgs};

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

/// `renkei client init`.
pub(super) async fn init(args: &ClientArgs, a: &InitArgs) -> anyhow::Result<ExitCode> {
    let dir = home_dir(args)?;
    let ca = std::fs::read_to_string(&a.ca_cert)
        .with_context(|| format!("{} を読めません", a.ca_cert.display()))?;
    let pass = passphrase(args)?;
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
        println!(
            "次に `renkei client enroll` で証明書を発行してください / next: renkei client enroll"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `renkei client enroll`.
pub(super) async fn enroll(args: &ClientArgs, a: &EnrollArgs) -> anyhow::Result<ExitCode> {
    let home = Home::open(&home_dir(args)?)?;
    let mut ks = home.unlock(&passphrase(args)?)?;
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

/// `renkei client login`.
pub(super) async fn login(args: &ClientArgs, a: &LoginArgs) -> anyhow::Result<ExitCode> {
    let o = office(args).await?;
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
        _ => bail!("--user-id と --kj-id は両方指定してください / give both --user-id and --kj-id"),
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
