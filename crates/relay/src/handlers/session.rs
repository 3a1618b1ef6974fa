//! The two-stage login and logout.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use renkei_api::{
    ErrorCode, OfficeLoginRequest, Problem, SessionResponse, UserLoginRequest, UserLoginResponse,
};
use renkei_ids::{KjUserId, OfficeNumber, PersonalUserId};
use renkei_store::{Millis, SessionRecord, SessionStage, StoreError};

use super::{audit, audit_best_effort, datetime};
use crate::auth::{check_session, new_token, token_hash, DeviceCert, OfficeSession};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::RelayState;

fn ms(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A real Argon2 hash of a random password: unknown IDs cost as much as wrong passwords, so
/// response times do not reveal which IDs exist.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| renkei_store::password::hash_password(&new_token()))
        .clone()
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || renkei_store::password::verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// The account a login names, for counting failures.
#[derive(Clone, Copy)]
enum Account<'a> {
    User(&'a PersonalUserId),
    Kj(&'a KjUserId),
}

impl Account<'_> {
    fn stage(self) -> &'static str {
        match self {
            Account::User(_) => "user",
            Account::Kj(_) => "office",
        }
    }

    /// Count one attempt atomically (before the password is checked).
    async fn record_attempt(
        self,
        state: &RelayState,
        now: Millis,
    ) -> ApiResult<(u32, Option<Millis>)> {
        let (threshold, lockout) = (state.config().max_failed_logins, ms(state.config().lockout));
        Ok(match self {
            Account::User(id) => {
                state
                    .store()
                    .record_personal_user_login_failure(id, now, threshold, lockout)
                    .await?
            }
            Account::Kj(id) => {
                state
                    .store()
                    .record_kj_login_failure(id, now, threshold, lockout)
                    .await?
            }
        })
    }

    async fn reset(self, state: &RelayState) -> ApiResult<()> {
        match self {
            Account::User(id) => state.store().reset_personal_user_login_failures(id).await?,
            Account::Kj(id) => state.store().reset_kj_login_failures(id).await?,
        }
        Ok(())
    }
}

/// What the store holds about the account a login names.
struct Found {
    office: OfficeNumber,
    password_hash: String,
    locked_until: Option<Millis>,
    disabled: bool,
}

/// Check one stage's credentials. Every refusal that could tell an outsider whether an ID
/// exists (unknown ID, an ID of another office, a disabled user, a wrong password) answers the
/// same `login_failed` after the same Argon2 work; the audit entry keeps the real reason. A
/// disabled user is told so only after giving the right password. Attempts are counted before
/// the password is checked (one atomic statement), so parallel guesses cannot get more than
/// the threshold checked.
async fn check_credentials(
    state: &RelayState,
    device: &DeviceCert,
    actor: &str,
    account: Account<'_>,
    found: Option<Found>,
    password: String,
) -> ApiResult<()> {
    let now = state.now();
    let refuse = |code: &'static str, locked: bool| {
        audit(
            &device.office,
            now,
            "login.failed",
            actor,
            serde_json::json!({"stage": account.stage(), "code": code, "locked": locked}),
        )
    };
    let found = match found {
        Some(f) if f.office == device.office => f,
        other => {
            verify_password(password, dummy_hash()).await;
            let code = if other.is_some() {
                "office_mismatch"
            } else {
                "unknown_id"
            };
            audit_best_effort(state, vec![refuse(code, false)]).await;
            return Err(ErrorCode::LoginFailed.into());
        }
    };
    if found.locked_until.is_some_and(|t| t > now) {
        audit_best_effort(state, vec![refuse("locked", true)]).await;
        return Err(ErrorCode::AccountLocked.into());
    }
    let (attempt, locked_until) = account.record_attempt(state, now).await?;
    if attempt > state.config().max_failed_logins {
        audit_best_effort(state, vec![refuse("locked", true)]).await;
        return Err(ErrorCode::AccountLocked.into());
    }
    if !verify_password(password, found.password_hash).await {
        let locked = locked_until.is_some();
        audit_best_effort(state, vec![refuse("bad_password", locked)]).await;
        return Err(if locked {
            ErrorCode::AccountLocked
        } else {
            ErrorCode::LoginFailed
        }
        .into());
    }
    account.reset(state).await?;
    if found.disabled {
        audit_best_effort(state, vec![refuse("disabled", false)]).await;
        return Err(ErrorCode::UserDisabled.into());
    }
    Ok(())
}

/// Stage 1: personal user ID and password, from an enrolled device.
#[utoipa::path(post, path = "/session/user", tag = "session", request_body = UserLoginRequest,
    responses((status = 200, body = UserLoginResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn login_user(
    State(state): State<RelayState>,
    device: DeviceCert,
    ApiJson(req): ApiJson<UserLoginRequest>,
) -> ApiResult<Json<UserLoginResponse>> {
    let now = state.now();
    let user = state.store().personal_user(&req.user_id).await?;
    let found = user.as_ref().map(|u| Found {
        office: u.office.clone(),
        password_hash: u.password_hash.clone(),
        locked_until: u.locked_until,
        disabled: u.disabled,
    });
    check_credentials(
        &state,
        &device,
        req.user_id.as_str(),
        Account::User(&req.user_id),
        found,
        req.password,
    )
    .await?;
    let user = user.ok_or(ApiError::new(ErrorCode::Internal))?;
    let token = new_token();
    let expires_at = now + ms(state.config().stage1_ttl);
    state
        .store()
        .insert_session(&SessionRecord {
            token_hash: token_hash(&token),
            stage: SessionStage::User,
            user_id: user.user_id.clone(),
            office: user.office.clone(),
            spki_sha256: device.spki_sha256.clone(),
            created_at: now,
            expires_at,
        })
        .await?;
    Ok(Json(UserLoginResponse {
        stage1_token: token,
        office: user.office,
        expires_at: datetime(expires_at),
    }))
}

/// Stage 2: the office's KJ ID and password, with the stage-1 token, from the same device.
#[utoipa::path(post, path = "/session/office", tag = "session", request_body = OfficeLoginRequest,
    responses((status = 200, body = SessionResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn login_office(
    State(state): State<RelayState>,
    device: DeviceCert,
    ApiJson(req): ApiJson<OfficeLoginRequest>,
) -> ApiResult<Json<SessionResponse>> {
    let now = state.now();
    let stage1 = check_session(&state, &device, &req.stage1_token, SessionStage::User).await?;
    let account = state.store().kj_account(&req.kj_id).await?;
    // Stage 1 admitted only a user of the device's office, so checking the KJ account
    // against the device's office checks it against the user's too.
    if stage1.office != device.office {
        return Err(ErrorCode::Unauthenticated.into());
    }
    let found = account.as_ref().map(|a| Found {
        office: a.office.clone(),
        password_hash: a.password_hash.clone(),
        locked_until: a.locked_until,
        disabled: false,
    });
    check_credentials(
        &state,
        &device,
        stage1.user_id.as_str(),
        Account::Kj(&req.kj_id),
        found,
        req.password,
    )
    .await?;
    let account = account.ok_or(ApiError::new(ErrorCode::Internal))?;
    let token = new_token();
    let expires_at = now + ms(state.config().session_ttl);
    let session = SessionRecord {
        token_hash: token_hash(&token),
        stage: SessionStage::Office,
        user_id: stage1.user_id.clone(),
        office: stage1.office.clone(),
        spki_sha256: device.spki_sha256.clone(),
        created_at: now,
        expires_at,
    };
    match state
        .store()
        .promote_session(&stage1.token_hash, &session)
        .await
    {
        Ok(()) => {}
        // Used twice at once: only one promotion wins.
        Err(StoreError::NotFound(_)) => return Err(ErrorCode::Unauthenticated.into()),
        Err(e) => return Err(e.into()),
    }
    audit_best_effort(
        &state,
        vec![audit(
            &session.office,
            now,
            "login",
            session.user_id.as_str(),
            serde_json::json!({"kj_id": account.kj_id.as_str(), "cert_serial": device.serial}),
        )],
    )
    .await;
    Ok(Json(SessionResponse {
        token,
        office: session.office,
        user_id: session.user_id,
        expires_at: datetime(expires_at),
        password_change_required: account.password_temporary,
    }))
}

/// End the session.
#[utoipa::path(delete, path = "/session", tag = "session", security(("bearer" = [])),
    responses((status = 204), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn logout(
    State(state): State<RelayState>,
    session: OfficeSession,
) -> Result<StatusCode, ApiError> {
    state.store().delete_session(&session.token_hash).await?;
    audit_best_effort(
        &state,
        vec![audit(
            &session.office,
            state.now(),
            "logout",
            session.user_id.as_str(),
            serde_json::json!({}),
        )],
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
