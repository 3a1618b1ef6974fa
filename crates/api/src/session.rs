//! The two-stage login of the care plan exchange: first the personal user (c… ID), then the
//! office's 介護電子請求用ユーザID (KJ ID). Both happen over mutual TLS with the office's device
//! certificate, and every token is bound to that certificate's public key.

use renkei_ids::{KjUserId, OfficeNumber, PersonalUserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Stage 1: the personal user.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserLoginRequest {
    /// 個人ユーザID (`c` + 10 digits).
    #[schema(value_type = String, example = "c0000000001")]
    pub user_id: PersonalUserId,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for UserLoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserLoginRequest")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Stage 1 result: a token that only allows stage 2, from the same certificate, for a few
/// minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserLoginResponse {
    /// Stage-1 token (opaque).
    pub stage1_token: String,
    /// The office the user belongs to.
    #[schema(value_type = String)]
    pub office: OfficeNumber,
    /// Expiry of the stage-1 token.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

/// Stage 2: the office's KJ account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OfficeLoginRequest {
    /// The stage-1 token.
    pub stage1_token: String,
    /// 介護電子請求用ユーザID (`KJ` + 12 digits).
    #[schema(value_type = String, example = "KJ000000000001")]
    pub kj_id: KjUserId,
    /// Password of the KJ account.
    pub password: String,
}

impl std::fmt::Debug for OfficeLoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfficeLoginRequest")
            .field("kj_id", &self.kj_id)
            .finish_non_exhaustive()
    }
}

/// A session: send it as `Authorization: Bearer <token>` from the same certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    /// Session token (opaque).
    pub token: String,
    /// The office the session acts for.
    #[schema(value_type = String)]
    pub office: OfficeNumber,
    /// The personal user who logged in.
    #[schema(value_type = String)]
    pub user_id: PersonalUserId,
    /// Expiry (sessions are short-lived; log in again after it).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    /// The KJ password is still the temporary one: the portal asks to change it.
    pub password_change_required: bool,
}
