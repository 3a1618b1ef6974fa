//! Start relay + portal in this process: open the stores chosen by URL, load the key material,
//! bind the listeners, run the retention job, and stop cleanly on request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use renkei_blob::BlobStore;
use renkei_portal::{PortalConfig, PortalService, PortalState};
use renkei_relay::{EvidenceNotary, RelayConfig, RelayState};
use renkei_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::ServerConfig;
use crate::keys::{self, KeyMaterial};
use crate::ServerError;

/// Open the metadata store named by `url` (`sqlite://…` or `postgres://…`).
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, ServerError> {
    if url.starts_with("sqlite:") {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if let Some(dir) = std::path::Path::new(path.split('?').next().unwrap_or(path)).parent()
            {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| ServerError::Io(dir.to_owned(), e))?;
                }
            }
        }
        let s = renkei_store_sqlite::SqliteStore::open(url)
            .await
            .map_err(|e| ServerError::Storage(e.to_string()))?;
        Ok(Arc::new(s))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let s = renkei_store_postgres::PgStore::open(url)
            .await
            .map_err(|e| ServerError::Storage(e.to_string()))?;
        Ok(Arc::new(s))
    } else {
        Err(ServerError::Storage(format!(
            "メタデータDBのURLは sqlite:// か postgres:// で始めてください / database URL must start with sqlite:// or postgres:// (got {})",
            crate::config::redact_url(url)
        )))
    }
}

/// Open the payload store named by `url` (a directory, `file://…` or `s3://…`).
pub async fn open_blobs(url: &str) -> Result<Arc<dyn BlobStore>, ServerError> {
    renkei_blob::open_blob_store(url)
        .await
        .map_err(|e| ServerError::Storage(e.to_string()))
}

/// The relay's policies from the server configuration.
pub fn relay_config(config: &ServerConfig) -> RelayConfig {
    let r = &config.relay;
    RelayConfig {
        max_envelope_bytes: r.max_file_bytes,
        unread_retention_days: r.unread_expiry_days,
        delete_after_days: r.delete_after_days,
        reminder_days: r.reminder_days,
        session_ttl: Duration::from_secs(u64::from(r.session_minutes) * 60),
        lockout: Duration::from_secs(u64::from(config.portal.lockout_minutes) * 60),
        max_failed_logins: config.portal.lockout_after_failures,
        orphan_grace: Duration::from_secs(u64::from(r.orphan_grace_minutes) * 60),
        max_concurrent_uploads: r.max_concurrent_uploads,
        inbox_recheck: Duration::from_millis(r.inbox_recheck_ms),
        ..RelayConfig::default()
    }
}

/// The portal's policies from the server configuration.
pub fn portal_config(config: &ServerConfig) -> PortalConfig {
    let p = &config.portal;
    PortalConfig {
        max_devices: p.max_devices_per_office,
        lockout_threshold: p.lockout_after_failures,
        lockout_ms: i64::from(p.lockout_minutes) * 60_000,
        client_builds_dir: (!p.client_builds_dir.is_empty())
            .then(|| p.client_builds_dir.clone().into()),
        secure_cookies: config.server.portal_tls,
        ..PortalConfig::default()
    }
}

/// A running server. Dropping it does not stop it: call [`RunningServer::shutdown`].
pub struct RunningServer {
    /// Where the portal answers (bound address, useful when the configured port was 0).
    pub portal_addr: SocketAddr,
    /// Where the relay answers.
    pub relay_addr: SocketAddr,
    /// Portal base URL.
    pub portal_url: String,
    /// Relay base URL.
    pub relay_url: String,
    /// CA certificate PEM (what clients pin).
    pub ca_cert_pem: String,
    /// Path of the CA certificate file.
    pub ca_cert_path: std::path::PathBuf,
    /// The portal's operations (the demo bootstrap uses them).
    pub portal: PortalService,
    /// The relay's state (tests use it to run retention with a chosen clock).
    pub relay: RelayState,
    ready: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<Result<(), String>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("portal_url", &self.portal_url)
            .field("relay_url", &self.relay_url)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// Let `/healthz` answer 200 from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Stop accepting, let open requests finish, and wait for every task.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        let mut first_err = None;
        while let Some(res) = self.tasks.join_next().await {
            match res {
                Ok(Ok(())) => {}
                Ok(Err(e)) => first_err = first_err.or(Some(e)),
                Err(e) => first_err = first_err.or(Some(e.to_string())),
            }
        }
        match first_err {
            Some(e) => Err(ServerError::Task(e)),
            None => Ok(()),
        }
    }

    /// Wait until a server task fails (returns its error) — for `renkei server` to exit on it.
    pub async fn wait_failure(&mut self) -> ServerError {
        while let Some(res) = self.tasks.join_next().await {
            match res {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => return ServerError::Task(e),
                Err(e) => return ServerError::Task(e.to_string()),
            }
        }
        std::future::pending().await
    }

    /// A future that resolves when shutdown is requested.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        stop_signal(&self.stop)
    }
}

/// A future that resolves once `true` is sent on `stop`.
fn stop_signal(
    stop: &watch::Sender<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut rx = stop.subscribe();
    async move {
        let _ = rx.wait_for(|s| *s).await;
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

async fn healthz(State(ready): State<Arc<AtomicBool>>) -> (StatusCode, &'static str) {
    if ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

/// Start relay and portal as configured. `/healthz` answers 503 until [`RunningServer::set_ready`].
pub async fn start(config: &ServerConfig) -> Result<RunningServer, ServerError> {
    let data_dir = &config.server.data_dir;
    std::fs::create_dir_all(data_dir).map_err(|e| ServerError::Io(data_dir.clone(), e))?;
    let keys: KeyMaterial = keys::load_or_create(data_dir, "Renkei CA", &config.server.hostnames)?;
    let store = open_store(&config.database_url()).await?;
    let blobs = open_blobs(&config.blob_url()).await?;

    let notary = Arc::new(
        EvidenceNotary::new(&keys.receipt_key_pkcs8, &keys.receipt_cert_pem)
            .map_err(|e| ServerError::Setup(format!("relay receipt key: {e}")))?,
    );
    let relay = RelayState::new(
        store.clone(),
        blobs,
        notary.clone(),
        keys.ca.ca_cert_pem().to_owned(),
        relay_config(config),
    )
    .map_err(|e| ServerError::Setup(format!("relay configuration: {e}")))?;
    let ca_cert_pem = keys.ca.ca_cert_pem().to_owned();
    let ca_cert_path = keys.ca_cert_path.clone();
    let portal = PortalService::new(store, Arc::new(keys.ca), notary, portal_config(config));

    let ready = Arc::new(AtomicBool::new(false));
    let health = Router::new()
        .route("/healthz", get(healthz))
        .with_state(ready.clone());
    let portal_app = renkei_portal::router(PortalState::new(portal.clone())).merge(health.clone());
    let relay_app = renkei_relay::router(relay.clone()).merge(health);

    let portal_listener = bind(config.server.portal_listen).await?;
    let relay_listener = bind(config.server.relay_listen).await?;
    let portal_addr = portal_listener
        .local_addr()
        .map_err(|e| ServerError::Bind {
            addr: "portal".into(),
            source: e,
        })?;
    let relay_addr = relay_listener.local_addr().map_err(|e| ServerError::Bind {
        addr: "relay".into(),
        source: e,
    })?;

    let relay_tls = Arc::new(renkei_pki::tls::server_tls_config(
        &keys.server_cert_pem,
        &keys.server_key_pem,
        &ca_cert_pem,
        renkei_pki::ClientAuth::Optional,
    )?);
    let (stop, _) = watch::channel(false);
    let mut tasks = JoinSet::new();
    {
        let stopping = stop_signal(&stop);
        let relay = relay.clone();
        let shutdown = async move {
            stopping.await;
            relay.end_inbox_waits();
        };
        tasks.spawn(async move {
            renkei_relay::serve(relay_listener, relay_tls, relay_app, shutdown)
                .await
                .map_err(|e| format!("relay: {e}"))
        });
    }
    if config.server.portal_tls {
        let tls = Arc::new(renkei_pki::tls::server_tls_config(
            &keys.server_cert_pem,
            &keys.server_key_pem,
            &ca_cert_pem,
            renkei_pki::ClientAuth::None,
        )?);
        let shutdown = stop_signal(&stop);
        tasks.spawn(async move {
            renkei_relay::serve(portal_listener, tls, portal_app, shutdown)
                .await
                .map_err(|e| format!("portal: {e}"))
        });
    } else {
        let shutdown = stop_signal(&stop);
        tasks.spawn(async move {
            axum::serve(portal_listener, portal_app)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(|e| format!("portal: {e}"))
        });
    }
    {
        let relay = relay.clone();
        let portal = portal.clone();
        let interval = Duration::from_secs(config.relay.retention_interval_secs.max(1));
        let mut shutdown = Box::pin(stop_signal(&stop));
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep(interval) => {}
                }
                let now = relay.now();
                match renkei_relay::run_retention(&relay, now).await {
                    Ok(report) => tracing::info!(?report, "retention run"),
                    Err(e) => tracing::warn!(error = %e, "retention run failed; will retry"),
                }
                // Annual license renewals (idempotent: a term already renewed is skipped) and
                // expired portal sessions.
                match portal.run_renewals(now).await {
                    Ok(renewed) if !renewed.is_empty() => {
                        tracing::info!(count = renewed.len(), "licenses renewed")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "license renewal run failed; will retry"),
                }
                if let Err(e) = portal.store().purge_portal_sessions(now).await {
                    tracing::warn!(error = %e, "purging portal sessions failed; will retry");
                }
            }
        });
    }

    let portal_url = if config.server.portal_public_url.is_empty() {
        format!(
            "{}://{portal_addr}",
            if config.server.portal_tls {
                "https"
            } else {
                "http"
            }
        )
    } else {
        config.portal_url()
    };
    let relay_url = if config.server.relay_public_url.is_empty() {
        format!("https://{relay_addr}")
    } else {
        config.relay_url()
    };
    tracing::info!(%portal_url, %relay_url, database = %crate::config::redact_url(&config.database_url()), "Renkei server started");
    Ok(RunningServer {
        portal_addr,
        relay_addr,
        portal_url,
        relay_url,
        ca_cert_pem,
        ca_cert_path,
        portal,
        relay,
        ready,
        stop,
        tasks,
    })
}
