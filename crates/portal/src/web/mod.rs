//! HTTP: the HTML pages (server-rendered with maud, no JavaScript), the JSON enrollment endpoint,
//! `/ca.pem` and `/crl.pem`.
//!
//! Sessions live in the database (`portal_sessions`), keyed by the SHA-256 of a random cookie
//! token (`HttpOnly; SameSite=Strict`), so any server node can serve any request. Every form
//! carries a single-use CSRF token stored with the session: a missing, foreign or replayed token
//! is refused.

mod office;
mod operator;
mod ui;

use std::collections::HashMap;

use axum::extract::{Json, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use renkei_store::{now_millis, PortalSession};

use crate::secrets::{new_token, token_hash};
use crate::{EnrollRequestJson, PortalError, PortalService};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "renkei_portal";

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct PortalState {
    /// The portal's operations.
    pub service: PortalService,
}

impl PortalState {
    /// State over a service.
    pub fn new(service: PortalService) -> Self {
        Self { service }
    }
}

/// The portal's routes.
pub fn router(state: PortalState) -> Router {
    Router::new()
        .route("/", get(office::top))
        .route("/login", get(office::login_page).post(office::login))
        .route("/logout", post(logout))
        .route(
            "/password",
            get(office::password_page).post(office::change_password),
        )
        .route("/office", get(office::home))
        .route(
            "/office/certificates",
            get(office::certificates_page).post(office::issue_certificate),
        )
        .route(
            "/office/issuance-password",
            post(office::reissue_issuance_password),
        )
        .route("/office/notices", get(office::notices_page))
        .route("/office/notices/open", post(office::open_notice))
        .route("/office/device-change", post(office::device_change))
        .route("/office/apply", get(office::apply_page).post(office::apply))
        .route(
            "/download",
            get(office::download_page).post(office::download),
        )
        .route(
            "/operator/login",
            get(operator::login_page).post(operator::login),
        )
        .route("/operator", get(operator::offices))
        .route("/operator/relay", get(operator::relay_status))
        .route(
            "/operator/register",
            get(operator::register_page).post(operator::register),
        )
        .route("/operator/bulk", post(operator::bulk))
        .route("/operator/reissue", post(operator::reissue))
        .route("/operator/revoke", post(operator::revoke))
        .route("/operator/device-change", post(operator::device_change))
        .route("/operator/charges", post(operator::charges))
        .route("/enroll/certificate", post(enroll_certificate))
        .route("/ca.pem", get(ca_pem))
        .route("/crl.pem", get(crl_pem))
        .with_state(state)
}

/// The request's session (existing or freshly created) and the cookie to set, if new.
pub(crate) struct Ctx {
    pub session: PortalSession,
    pub set_cookie: Option<String>,
}

impl Ctx {
    pub fn is_office(&self) -> bool {
        self.session.role == "office"
    }
    pub fn is_operator(&self) -> bool {
        self.session.role == "operator"
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == SESSION_COOKIE && !v.is_empty()).then(|| v.to_owned())
        })
}

fn cookie_header(service: &PortalService, token: &str) -> String {
    let secure = if service.config().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// The current session, if the cookie names a live one.
pub(crate) async fn current(
    state: &PortalState,
    headers: &HeaderMap,
) -> Result<Option<PortalSession>, PortalError> {
    let Some(token) = cookie_token(headers) else {
        return Ok(None);
    };
    Ok(state
        .service
        .store()
        .portal_session(&token_hash(&token), now_millis())
        .await?)
}

/// Start a new session (login rotates the session: the old one is deleted).
pub(crate) async fn start_session(
    state: &PortalState,
    role: &str,
    subject: &str,
    old: Option<&PortalSession>,
) -> Result<Ctx, PortalError> {
    if let Some(old) = old {
        state
            .service
            .store()
            .delete_portal_session(&old.id_hash)
            .await?;
    }
    let now = now_millis();
    let (token, hash) = new_token();
    let session = PortalSession {
        id_hash: hash,
        role: role.to_owned(),
        subject: subject.to_owned(),
        created_at: now,
        expires_at: now + state.service.config().session_ttl_ms,
    };
    state
        .service
        .store()
        .insert_portal_session(&session)
        .await?;
    Ok(Ctx {
        session,
        set_cookie: Some(cookie_header(&state.service, &token)),
    })
}

/// The session, creating an anonymous one when there is none (forms need a session for CSRF).
pub(crate) async fn ensure(state: &PortalState, headers: &HeaderMap) -> Result<Ctx, PortalError> {
    match current(state, headers).await? {
        Some(session) => Ok(Ctx {
            session,
            set_cookie: None,
        }),
        None => start_session(state, "anonymous", "", None).await,
    }
}

/// A fresh single-use CSRF token for a form of this session.
pub(crate) async fn csrf(state: &PortalState, ctx: &Ctx) -> Result<String, PortalError> {
    let (token, hash) = new_token();
    state
        .service
        .store()
        .insert_csrf_token(&hash, &ctx.session.id_hash, now_millis())
        .await?;
    Ok(token)
}

/// A refused form post (CSRF): nothing was done.
pub(crate) struct CsrfRefused;

/// Check and use the form's `_csrf` token. Returns the session it belongs to.
pub(crate) async fn check_form(
    state: &PortalState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Result<Ctx, CsrfRefused>, PortalError> {
    let Some(session) = current(state, headers).await? else {
        return Ok(Err(CsrfRefused));
    };
    let Some(token) = form.get("_csrf").filter(|t| !t.is_empty()) else {
        return Ok(Err(CsrfRefused));
    };
    let ok = state
        .service
        .store()
        .consume_csrf_token(&token_hash(token), &session.id_hash, now_millis())
        .await?;
    Ok(if ok {
        Ok(Ctx {
            session,
            set_cookie: None,
        })
    } else {
        Err(CsrfRefused)
    })
}

/// Attach the session cookie (if new) to a response.
pub(crate) fn with_cookie(ctx: &Ctx, resp: impl IntoResponse) -> Response {
    let mut resp = resp.into_response();
    if let Some(c) = &ctx.set_cookie {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An error page (HTML) for a portal error.
pub(crate) fn error_page(err: &PortalError, back: &str) -> Response {
    if matches!(err, PortalError::Store(_) | PortalError::Internal(_)) {
        tracing::error!(error = %err, "portal request failed");
    }
    (
        err.status(),
        ui::message_page("エラー / Error", &err.public_message(), back, true),
    )
        .into_response()
}

pub(crate) fn csrf_refused_page() -> Response {
    (
        StatusCode::FORBIDDEN,
        ui::message_page(
            "フォームを受け付けられません",
            "フォームの有効期限が切れたか、同じフォームが二度送信されました。お手数ですが、もう一度画面を開き直してください / the form expired or was submitted twice; reload the page",
            "/",
            true,
        ),
    )
        .into_response()
}

async fn logout(
    State(state): State<PortalState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    match check_form(&state, &headers, &form).await {
        Ok(Ok(ctx)) => {
            let _ = state
                .service
                .store()
                .delete_portal_session(&ctx.session.id_hash)
                .await;
            let mut resp = Redirect::to("/").into_response();
            let expired =
                format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
            if let Ok(v) = HeaderValue::from_str(&expired) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Ok(Err(CsrfRefused)) => csrf_refused_page(),
        Err(e) => error_page(&e, "/"),
    }
}

#[derive(serde::Serialize)]
struct JsonProblem {
    code: &'static str,
    message: String,
}

async fn enroll_certificate(
    State(state): State<PortalState>,
    body: Result<Json<EnrollRequestJson>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => {
            let p = JsonProblem {
                code: "invalid_input",
                message: format!("リクエストの形式が正しくありません / malformed request: {e}"),
            };
            return (StatusCode::BAD_REQUEST, Json(p)).into_response();
        }
    };
    match state.service.issue_certificate(&req, now_millis()).await {
        Ok(issued) => (StatusCode::OK, Json(issued)).into_response(),
        Err(e) => (
            e.status(),
            Json(JsonProblem {
                code: e.code(),
                message: e.public_message(),
            }),
        )
            .into_response(),
    }
}

fn pem_response(body: String, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn ca_pem(State(state): State<PortalState>) -> Response {
    pem_response(
        state.service.ca_certificate_pem().to_owned(),
        "application/x-pem-file",
    )
}

async fn crl_pem(State(state): State<PortalState>) -> Response {
    match state.service.crl_pem().await {
        Ok(pem) => pem_response(pem, "application/x-pem-file"),
        Err(e) => (e.status(), e.public_message()).into_response(),
    }
}
