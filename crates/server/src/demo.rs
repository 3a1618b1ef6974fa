//! `renkei demo`: the whole system on embedded defaults, with a demo CA, a demo operator (国保連)
//! and two fully enrolled demo offices — a 居宅介護支援事業所 and a 訪問介護事業所 — each with its
//! client home and its client UI.
//!
//! The first start registers everything through the same code paths a real deployment uses (the
//! portal service registers the offices and takes the usage applications; each office's client
//! generates its keys locally and enrolls over HTTP with its 証明書発行用パスワード). A second
//! start on the same directory reuses it all (`DIR/demo.json`).
//!
//! Ports: the portal (plain HTTP, loopback only) on the `--listen` port, the relay (TLS with
//! client certificates) on the next, then one client UI per office.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};
use renkei_client::{Credentials, EnrollInput, Home, KdfParams, Office};
use renkei_ids::{KjUserId, OfficeNumber};
use renkei_portal::{ApplicationForm, NewOffice};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::ServerConfig;
use crate::demo_file::{write_private_atomic, DemoFile, DemoOffice, DemoOperator};
use crate::run::{start, RunningServer};
use crate::ServerError;

/// The two demo offices: (number, name, kana, kind, postal code, address, phone).
const OFFICES: [(&str, &str, &str, &str, &str, &str, &str); 2] = [
    (
        "1310000019",
        "れんけい居宅介護支援センター",
        "レンケイキョタクカイゴシエンセンター",
        "43",
        "100-0001",
        "東京都千代田区千代田1-1 デモビル2階",
        "03-0000-0001",
    ),
    (
        "1370000027",
        "ひまわり訪問介護ステーション",
        "ヒマワリホウモンカイゴステーション",
        "11",
        "100-0002",
        "東京都千代田区皇居外苑2-2",
        "03-0000-0002",
    ),
];

/// A running demo. Stop it with [`RunningDemo::shutdown`].
pub struct RunningDemo {
    /// The relay + portal.
    pub server: RunningServer,
    /// What `demo.json` says.
    pub file: DemoFile,
    ui_stop: watch::Sender<bool>,
    ui_tasks: JoinSet<Result<(), String>>,
}

impl std::fmt::Debug for RunningDemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningDemo")
            .field("portal_url", &self.file.portal_url)
            .finish_non_exhaustive()
    }
}

impl RunningDemo {
    /// Stop the client UIs, then relay and portal.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        let _ = self.ui_stop.send(true);
        while self.ui_tasks.join_next().await.is_some() {}
        self.server.shutdown().await
    }
}

fn demo_error(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Demo {
        what: what.to_owned(),
        detail: e.to_string(),
    }
}

/// A random password that satisfies the portal's rules (upper, lower, digit, symbol; 16 chars).
pub fn demo_password() -> String {
    const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 12];
    OsRng.fill_bytes(&mut bytes);
    let body: String = bytes
        .iter()
        .map(|b| char::from(ALNUM[usize::from(*b) % ALNUM.len()]))
        .collect();
    format!("Dm-{body}7k")
}

/// The configuration of a demo: SQLite and payloads under `data_dir/server`, the portal on plain
/// HTTP on loopback, the relay on the next port.
pub fn demo_config(data_dir: &Path, listen: SocketAddr) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.server.data_dir = data_dir.join("server");
    config.server.portal_listen = listen;
    config.server.portal_tls = false;
    let mut relay = listen;
    relay.set_port(if listen.port() == 0 {
        0
    } else {
        listen.port() + 1
    });
    config.server.relay_listen = relay;
    config.server.hostnames = vec!["localhost".into(), listen.ip().to_string()];
    config.relay.retention_interval_secs = 600;
    config
}

/// Start the demo in `data_dir`, with the portal on `listen`.
pub async fn start_demo(data_dir: &Path, listen: SocketAddr) -> Result<RunningDemo, ServerError> {
    start_demo_on(data_dir, listen, None).await
}

/// [`start_demo`] with the metadata in another database (`postgres://…`): what the CLI tests
/// use to run the same exchange on PostgreSQL.
pub async fn start_demo_on(
    data_dir: &Path,
    listen: SocketAddr,
    database_url: Option<&str>,
) -> Result<RunningDemo, ServerError> {
    if !listen.ip().is_loopback() {
        return Err(demo_error("listen", format!(
            "デモはこの端末（127.0.0.1）でだけ待ち受けます / the demo listens on loopback only (got {listen})"
        )));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| ServerError::Io(data_dir.to_owned(), e))?;
    let mut config = demo_config(data_dir, listen);
    if let Some(url) = database_url {
        config.storage.database_url = url.to_owned();
    }
    let server = start(&config).await?;
    let json_path = data_dir.join("demo.json");
    let previous = DemoFile::load(&json_path).map_err(|e| ServerError::Io(json_path.clone(), e))?;

    let (operator, mut offices) = match previous {
        Some(prev) => (prev.operator, prev.offices),
        None => bootstrap(&server, data_dir).await?,
    };

    // Client UIs: one per office, each unlocked with its demo passphrase.
    let (ui_stop, _) = watch::channel(false);
    let mut ui_tasks = JoinSet::new();
    for (i, office) in offices.iter_mut().enumerate() {
        let home_dir = PathBuf::from(&office.client_home);
        let mut home = Home::open(&home_dir).map_err(|e| demo_error("client home", e))?;
        // The relay and portal ports may differ from the previous start.
        home.update_config(|c| {
            c.relay_url = server.relay_url.clone();
            c.portal_url = server.portal_url.clone();
        })
        .map_err(|e| demo_error("client config", e))?;
        let passphrase = read_passphrase(&home_dir)?;
        let unlocked = Office::unlock(home, &passphrase)
            .await
            .map_err(|e| demo_error("unlock", e))?;
        let mut ui_addr = listen;
        ui_addr.set_port(if listen.port() == 0 {
            0
        } else {
            listen.port() + 2 + i as u16
        });
        let listener = tokio::net::TcpListener::bind(ui_addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: ui_addr.to_string(),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: ui_addr.to_string(),
            source,
        })?;
        let secret = renkei_client_web::new_secret();
        office.client_url = renkei_client_web::launch_url(bound, &secret);
        let mut rx = ui_stop.subscribe();
        ui_tasks.spawn(async move {
            renkei_client_web::serve_office(unlocked, listener, secret, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
            .map_err(|e| e.to_string())
        });
    }

    let file = DemoFile {
        portal_url: server.portal_url.clone(),
        relay_url: server.relay_url.clone(),
        ca_cert: server.ca_cert_path.display().to_string(),
        operator,
        offices,
    };
    file.save(&json_path)
        .map_err(|e| ServerError::Io(json_path.clone(), e))?;
    server.set_ready();
    Ok(RunningDemo {
        server,
        file,
        ui_stop,
        ui_tasks,
    })
}

const PASSPHRASE_FILE: &str = "demo-passphrase";

fn read_passphrase(home_dir: &Path) -> Result<String, ServerError> {
    let path = home_dir.join(PASSPHRASE_FILE);
    std::fs::read_to_string(&path)
        .map(|s| s.trim_end().to_owned())
        .map_err(|e| ServerError::Io(path, e))
}

/// Register one office and enroll its client exactly as a real office does: the portal registers
/// it (registration notice), the office changes its temporary password, its client home in
/// `home_dir` generates keys and enrolls over HTTP with the 証明書発行用パスワード, the usage
/// application creates its personal user, and the credentials are remembered in the keystore
/// (passphrase in `home_dir/demo-passphrase`).
pub async fn provision_office(
    server: &RunningServer,
    operator: &str,
    spec: &NewOffice,
    home_dir: &Path,
    kdf: KdfParams,
) -> Result<DemoOffice, ServerError> {
    let portal = &server.portal;
    let now = renkei_store::now_millis();
    let notice = portal
        .register_office(operator, spec, now)
        .await
        .map_err(|e| demo_error("register office", e))?;
    let kj_id: KjUserId = notice.kj_id.clone();
    let kj_password = demo_password();
    portal
        .change_kj_password(&kj_id, &notice.temporary_password, &kj_password, now)
        .await
        .map_err(|e| demo_error("change password", e))?;
    let issuance_password = notice
        .issuance_password
        .clone()
        .ok_or_else(|| demo_error("registration notice", "no issuance password"))?;

    // The office's own device: keys generated locally, enrolled over HTTP.
    let office_number: OfficeNumber = spec
        .number
        .parse()
        .map_err(|e| demo_error("office number", e))?;
    let passphrase = demo_password();
    write_private_atomic(&home_dir.join(PASSPHRASE_FILE), passphrase.as_bytes())
        .map_err(|e| ServerError::Io(home_dir.to_owned(), e))?;
    let (home, mut keystore) = Home::create_with(
        home_dir,
        &server.relay_url,
        &server.portal_url,
        &server.ca_cert_pem,
        &passphrase,
        kdf,
    )
    .map_err(|e| demo_error("client home", e))?;
    renkei_client::enroll(
        &home,
        &mut keystore,
        &EnrollInput {
            office: office_number.clone(),
            kj_id: kj_id.clone(),
            issuance_password,
            cert_type: renkei_pki::CertType::Careplan,
            device_label: format!("demo-{}", spec.number),
        },
    )
    .await
    .map_err(|e| demo_error("enroll", e))?;

    let outcome = portal
        .apply(
            &kj_id,
            &ApplicationForm {
                contact_name: "連携 花子".into(),
                contact_email: format!("office{}@demo.invalid", spec.number),
                contact_phone: spec.phone.clone(),
                invoice: false,
                agree_terms: true,
                agree_privacy: true,
                confirm_fee: true,
            },
            now,
        )
        .await
        .map_err(|e| demo_error("usage application", e))?;

    keystore.set_credentials(Some(Credentials {
        user_id: outcome.personal_user_id.clone(),
        user_password: outcome.personal_password.clone(),
        kj_id: kj_id.clone(),
        kj_password: kj_password.clone(),
    }));
    keystore
        .save(&home.keystore_path())
        .map_err(|e| demo_error("keystore", e))?;
    // Daily use is one unlock: the UI asks only for the passphrase.
    let mut home = home;
    home.update_config(|c| c.remember_login = true)
        .map_err(|e| demo_error("client config", e))?;
    Ok(DemoOffice {
        office_number: spec.number.clone(),
        name: spec.name.clone(),
        kind: spec.kind.clone(),
        kj_id: kj_id.to_string(),
        kj_password,
        user_id: outcome.personal_user_id.to_string(),
        user_password: outcome.personal_password,
        client_url: String::new(),
        client_home: home_dir.display().to_string(),
    })
}

/// First start: register the operator and both offices, enroll each office's client, apply.
async fn bootstrap(
    server: &RunningServer,
    data_dir: &Path,
) -> Result<(DemoOperator, Vec<DemoOffice>), ServerError> {
    let now = renkei_store::now_millis();
    let operator = DemoOperator {
        login: "admin".into(),
        password: demo_password(),
    };
    server
        .portal
        .create_operator(
            &operator.login,
            "国保連 デモ運用者",
            &operator.password,
            now,
        )
        .await
        .map_err(|e| demo_error("operator", e))?;

    let mut offices = Vec::new();
    for (number, name, kana, kind, postal, address, phone) in OFFICES {
        let spec = NewOffice {
            number: number.into(),
            name: name.into(),
            name_kana: kana.into(),
            kind: kind.into(),
            postal_code: postal.into(),
            address: address.into(),
            phone: phone.into(),
        };
        let home_dir = data_dir.join("clients").join(number);
        offices.push(
            provision_office(
                server,
                &operator.login,
                &spec,
                &home_dir,
                KdfParams::default(),
            )
            .await?,
        );
    }
    Ok((operator, offices))
}
