//! The client's local web UI: a Japanese, server-rendered (maud) application on 127.0.0.1,
//! for care managers who have never used a terminal.
//!
//! Security model: the UI listens on loopback only and every request must carry the
//! per-launch secret. The URL printed at launch (`/?token=SECRET`) sets it as an `HttpOnly`,
//! `SameSite=Strict` cookie; requests without the cookie, with another `Host` than loopback
//! (DNS rebinding) or, for forms, from another origin are refused.
//!
//! ```no_run
//! # async fn run(home: renkei_client::Home) -> Result<(), renkei_client_web::WebError> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let secret = renkei_client_web::new_secret();
//! println!("{}", renkei_client_web::launch_url(listener.local_addr().unwrap(), &secret));
//! renkei_client_web::serve(home, listener, secret, std::future::pending()).await
//! # }
//! ```

mod handlers;
mod pages;
mod records;
mod setup;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand_core::{OsRng, RngCore};
use renkei_client::{Home, Office};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::RwLock;

/// Prefix of the session cookie holding the per-launch secret; the port is appended, because
/// browsers share cookies between ports of one host and two offices' UIs (the demo) may run
/// side by side on 127.0.0.1.
pub const COOKIE_PREFIX: &str = "renkei_ui_";

/// Errors of the web UI server.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The listener is not on a loopback address.
    #[error(
        "画面はこの端末（127.0.0.1）だけで開けます / the UI listens on loopback only (got {0})"
    )]
    NotLoopback(SocketAddr),
    /// Serving failed.
    #[error("画面のサーバーが停止しました（{0}）/ UI server failed ({0})")]
    Io(#[from] std::io::Error),
    /// The home exists but cannot be opened (damaged configuration or CA certificate).
    #[error(transparent)]
    Home(renkei_client::ClientError),
}

/// A fresh per-launch secret (256 bits, hex).
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The URL to open: it carries the secret once; the page then keeps it in a cookie.
pub fn launch_url(addr: SocketAddr, secret: &str) -> String {
    format!("http://{addr}/?token={secret}")
}

/// Live progress of one send batch started from the UI.
#[derive(Debug, Clone, Default)]
pub(crate) struct Job {
    pub lines: Vec<(String, String, String)>, // (連番, 送信先, 状態)
    pub done: bool,
    pub error: Option<String>,
    pub send_ids: Vec<i64>,
}

pub(crate) struct App {
    /// The home, once this device is set up (`None` until `/setup` has run).
    pub home: RwLock<Option<Home>>,
    /// Where the home is (or will be).
    pub home_dir: PathBuf,
    secret: String,
    cookie: String,
    pub office: RwLock<Option<Arc<Office>>>,
    pub jobs: Mutex<HashMap<u64, Job>>,
    pub next_job: Mutex<u64>,
}

pub(crate) type Shared = Arc<App>;

/// How often the UI retries the outbox in the background while an office is unlocked: sends
/// queued while the relay was unreachable go out, in order, without anyone pressing a button.
pub const OUTBOX_RETRY: Duration = Duration::from_secs(30);

/// Serve the UI for `home` until `shutdown` completes. The home starts locked: the user
/// unlocks it with the passphrase on the first page.
pub async fn serve(
    home: Home,
    listener: TcpListener,
    secret: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let dir = home.dir().to_owned();
    serve_inner(
        dir,
        Some(home),
        None,
        listener,
        secret,
        shutdown,
        OUTBOX_RETRY,
    )
    .await
}

/// Serve the UI for the home in `dir`, which need not exist yet: a device that was never set
/// up starts at the setup page (`/setup`, then `/enroll`), so that nobody needs a terminal.
pub async fn serve_dir(
    dir: PathBuf,
    listener: TcpListener,
    secret: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let home = match Home::open(&dir) {
        Ok(h) => Some(h),
        Err(renkei_client::ClientError::NotInitialised(_)) => None,
        Err(e) => return Err(WebError::Home(e)),
    };
    serve_inner(dir, home, None, listener, secret, shutdown, OUTBOX_RETRY).await
}

/// Serve the UI of an office that is already unlocked (used by `renkei demo`, which holds the
/// passphrase of its demo offices).
pub async fn serve_office(
    office: Office,
    listener: TcpListener,
    secret: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    serve_office_with_retry(office, listener, secret, shutdown, OUTBOX_RETRY).await
}

/// [`serve_office`] with another outbox retry interval than [`OUTBOX_RETRY`].
pub async fn serve_office_with_retry(
    office: Office,
    listener: TcpListener,
    secret: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
    outbox_retry: Duration,
) -> Result<(), WebError> {
    let home = office.home().clone();
    serve_inner(
        home.dir().to_owned(),
        Some(home),
        Some(Arc::new(office)),
        listener,
        secret,
        shutdown,
        outbox_retry,
    )
    .await
}

/// While the server runs: every `every`, if an office is unlocked and its outbox holds
/// anything, send it (oldest first; a unit the relay still cannot be reached for stays).
async fn retry_outbox(app: Shared, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let office = app.office.read().await.clone();
        let Some(o) = office else { continue };
        // An empty outbox costs one local query and no request to the relay.
        match o.flush_outbox(|_| {}).await {
            Ok(r) if r.stored.is_empty() && r.waiting.is_empty() && r.failed.is_empty() => {}
            Ok(r) => tracing::info!(
                stored = r.stored.len(),
                waiting = r.waiting.len(),
                failed = r.failed.len(),
                "outbox retried"
            ),
            Err(e) => tracing::warn!(error = %e, "outbox retry failed"),
        }
    }
}

async fn serve_inner(
    home_dir: PathBuf,
    home: Option<Home>,
    office: Option<Arc<Office>>,
    listener: TcpListener,
    secret: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
    outbox_retry: Duration,
) -> Result<(), WebError> {
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        return Err(WebError::NotLoopback(addr));
    }
    let app = Arc::new(App {
        home: RwLock::new(home),
        home_dir,
        secret,
        cookie: format!("{COOKIE_PREFIX}{}", addr.port()),
        office: RwLock::new(office),
        jobs: Mutex::new(HashMap::new()),
        next_job: Mutex::new(1),
    });
    let retry = tokio::spawn(retry_outbox(app.clone(), outbox_retry));
    let served = axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await;
    retry.abort();
    served?;
    Ok(())
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(handlers::root))
        .route("/style.css", get(handlers::style))
        .route("/unlock", get(handlers::unlock_page).post(handlers::unlock))
        .route("/setup", get(setup::setup_page).post(setup::setup))
        .route("/enroll", get(setup::enroll_page).post(setup::enroll))
        .route("/lock", post(handlers::lock))
        .route("/inbox", get(handlers::inbox))
        .route("/inbox/import-all", post(handlers::import_all))
        .route("/inbox/{id}/import", post(handlers::import_one))
        .route("/inbox/{id}/reject", post(handlers::reject_one))
        .route("/inbox/{id}/view/{index}", get(handlers::view_received))
        .route("/send", get(handlers::send_page).post(handlers::send))
        .route("/send/jobs/{job}", get(handlers::send_job))
        .route("/directory", get(records::directory))
        .route("/favourites", post(records::favourite))
        .route("/history", get(records::history))
        .route("/history/{id}", get(records::history_one))
        .route("/history/{id}/refresh", post(records::history_refresh))
        .route("/history/{id}/certificate", get(records::certificate_html))
        .route(
            "/history/{id}/certificate.json",
            get(records::certificate_json),
        )
        .route("/evidence", get(records::evidence))
        .route("/evidence/audit", get(records::audit_html))
        .route("/evidence/audit.json", get(records::audit_json))
        .route("/outbox", get(records::outbox))
        .route("/outbox/flush", post(records::outbox_flush))
        .route("/viewer", get(records::viewer_page).post(records::viewer))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

fn cookie_secret(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Every request: loopback `Host`, the secret (cookie, or `?token=` on `/`), and for
/// state-changing requests an `Origin` (when sent) equal to our own.
async fn guard(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if !host_is_loopback(headers) {
        return pages::refused(
            StatusCode::FORBIDDEN,
            "この画面はこの端末からだけ開けます。",
        )
        .into_response();
    }
    let from_cookie = cookie_secret(headers, &app.cookie).is_some_and(|c| same(&c, &app.secret));
    let from_token = req.uri().path() == "/"
        && req
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
            .is_some_and(|t| same(t, &app.secret));
    if !from_cookie && !from_token {
        return pages::refused(
            StatusCode::FORBIDDEN,
            "このアドレスでは開けません。クライアントを起動したときに表示されたアドレスを開いてください。",
        )
        .into_response();
    }
    if req.method() != Method::GET {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            if origin != format!("http://{host}") {
                return pages::refused(
                    StatusCode::FORBIDDEN,
                    "別のサイトからの操作は受け付けません。",
                )
                .into_response();
            }
        }
    }
    next.run(req).await
}

pub(crate) fn secret_cookie(app: &App) -> String {
    format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/",
        app.cookie, app.secret
    )
}
