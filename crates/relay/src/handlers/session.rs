//! The two-stage login and logout.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use renkei_api::{
    ErrorCode, OfficeLoginRequest, Problem, SessionResponse, UserLoginRequest, UserLoginResponse,
};
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

/// Stage 1: personal user ID and password, from an enrolled device.
#[utoipa::path(post, path = "/session/user", tag = "session", request_body = UserLoginRequest,
    responses((status = 200, body = UserLoginResponse), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn login_user(
    State(state): State<RelayState>,
    device: DeviceCert,
    ApiJson(req): ApiJson<UserLoginRequest>,
) -> ApiResult<Json<UserLoginResponse>> {
    let now = state.now();
    let Some(mut user) = state.store().personal_user(&req.user_id).await? else {
        verify_password(req.password, dummy_hash()).await;
        audit_best_effort(
            &state,
            vec![audit(
                &device.office,
                now,
                "login.failed",
                req.user_id.as_str(),
                serde_json::json!({"stage": "user", "code": "unknown_user"}),
            )],
        )
        .await;
        return Err(ErrorCode::LoginFailed.into());
    };
    if user.office != device.office {
        audit_best_effort(
            &state,
            vec![audit(
                &device.office,
                now,
                "login.failed",
                req.user_id.as_str(),
                serde_json::json!({"stage": "user", "code": "office_mismatch"}),
            )],
        )
        .await;
        return Err(ErrorCode::OfficeMismatch.into());
    }
    if user.disabled {
        return Err(ErrorCode::UserDisabled.into());
    }
    if user.locked_until.is_some_and(|t| t > now) {
        return Err(ErrorCode::AccountLocked.into());
    }
    if !verify_password(req.password, user.password_hash.clone()).await {
        user.failed_logins += 1;
        let locked = user.failed_logins >= state.config().max_failed_logins;
        if locked {
            user.locked_until = Some(now + ms(state.config().lockout));
            user.failed_logins = 0;
        }
        state.store().update_personal_user(&user).await?;
        audit_best_effort(
            &state,
            vec![audit(
                &device.office,
                now,
                "login.failed",
                user.user_id.as_str(),
                serde_json::json!({"stage": "user", "code": "bad_password", "locked": locked}),
            )],
        )
        .await;
        return Err(if locked {
            ErrorCode::AccountLocked
        } else {
            ErrorCode::LoginFailed
        }
        .into());
    }
    if user.failed_logins != 0 || user.locked_until.is_some() {
        user.failed_logins = 0;
        user.locked_until = None;
        state.store().update_personal_user(&user).await?;
    }
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
    let Some(mut account) = state.store().kj_account(&req.kj_id).await? else {
        verify_password(req.password, dummy_hash()).await;
        audit_best_effort(
            &state,
            vec![audit(
                &device.office,
                now,
                "login.failed",
                stage1.user_id.as_str(),
                serde_json::json!({"stage": "office", "code": "unknown_kj_id"}),
            )],
        )
        .await;
        return Err(ErrorCode::LoginFailed.into());
    };
    if account.office != stage1.office {
        audit_best_effort(
            &state,
            vec![audit(
                &device.office,
                now,
                "login.failed",
                stage1.user_id.as_str(),
                serde_json::json!({"stage": "office", "code": "office_mismatch"}),
            )],
        )
        .await;
        return Err(ErrorCode::OfficeMismatch.into());
    }
    if account.locked_until.is_some_and(|t| t > now) {
        return Err(ErrorCode::AccountLocked.into());
    }
    if !verify_password(req.password, account.password_hash.clone()).await {
        account.failed_logins += 1;
        let locked = account.failed_logins >= state.config().max_failed_logins;
        if locked {
            account.locked_until = Some(now + ms(state.config().lockout));
            account.failed_logins = 0;
        }
        state.store().update_kj_account(&account).await?;
        audit_best_effort(&state, vec![audit(&device.office, now, "login.failed", stage1.user_id.as_str(), serde_json::json!({"stage": "office", "kj_id": account.kj_id.as_str(), "code": "bad_password", "locked": locked}))]).await;
        return Err(if locked {
            ErrorCode::AccountLocked
        } else {
            ErrorCode::LoginFailed
        }
        .into());
    }
    if account.failed_logins != 0 || account.locked_until.is_some() {
        account.failed_logins = 0;
        account.locked_until = None;
        state.store().update_kj_account(&account).await?;
    }
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
