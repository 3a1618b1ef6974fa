//! The office directory, certificate status and the audit export.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use renkei_api::{
    AuditExport, CertStatus, CertificateInfo, DirectoryEntry, DirectoryPage, DirectoryQuery,
    ErrorCode, Problem, RevocationList,
};
use renkei_ids::{OfficeNumber, ServiceKindCode};
use renkei_store::{AuditRecord, CertProfile, CertRecord, OfficeListing, OfficeQuery};

use crate::auth::OfficeSession;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::handlers::{audit, audit_best_effort, datetime};
use crate::RelayState;

/// The certificate a sender should seal to: the newest unrevoked, currently valid office
/// certificate.
fn current_cert(certs: &[CertRecord], now: i64) -> Option<&CertRecord> {
    certs.iter().find(|c| {
        matches!(c.profile, CertProfile::Careplan | CertProfile::Kaigo)
            && c.revoked_at.is_none()
            && c.not_before <= now
            && now <= c.not_after
    })
}

async fn entry(state: &RelayState, l: OfficeListing) -> ApiResult<DirectoryEntry> {
    let certs = state
        .store()
        .certificates_for_office(&l.office.number)
        .await?;
    let certificate = if l.enrolled {
        current_cert(&certs, state.now()).map(|c| CertificateInfo {
            serial: c.serial.clone(),
            profile: c.profile.as_str().to_owned(),
            pem: c.pem.clone(),
            not_after: crate::handlers::datetime(c.not_after),
        })
    } else {
        None
    };
    Ok(DirectoryEntry {
        number: l.office.number,
        name: l.office.name,
        name_kana: l.office.name_kana,
        kind: l.office.kind.to_string(),
        prefecture: l.office.prefecture,
        enrolled: l.enrolled && certificate.is_some(),
        accepts: l.office.accepts,
        certificate,
    })
}

/// Search offices by number prefix, name, prefecture and service kind.
#[utoipa::path(get, path = "/directory", tag = "directory", security(("bearer" = [])), params(DirectoryQuery),
    responses((status = 200, body = DirectoryPage), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn search(
    State(state): State<RelayState>,
    _session: OfficeSession,
    ApiQuery(q): ApiQuery<DirectoryQuery>,
) -> ApiResult<Json<DirectoryPage>> {
    let kind = q
        .kind
        .as_deref()
        .map(str::parse::<ServiceKindCode>)
        .transpose()
        .map_err(|e| ApiError::detail(ErrorCode::InvalidIdentifier, e.to_string()))?;
    if let Some(n) = &q.number {
        if n.len() > 10 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::detail(
                ErrorCode::InvalidIdentifier,
                "number must be up to 10 digits",
            ));
        }
    }
    if q.prefecture.is_some_and(|p| !(1..=47).contains(&p)) {
        return Err(ApiError::detail(
            ErrorCode::BadRequest,
            "prefecture is 1–47",
        ));
    }
    let listings = state
        .store()
        .search_offices(&OfficeQuery {
            number_prefix: q.number.clone(),
            name_contains: q.name.clone().filter(|s| !s.is_empty()),
            prefecture: q.prefecture,
            kind,
            enrolled_only: q.enrolled_only.unwrap_or(false),
            limit: q.limit.unwrap_or(50).clamp(1, 200),
            offset: q.offset.unwrap_or(0),
        })
        .await?;
    let mut items = Vec::with_capacity(listings.len());
    for l in listings {
        items.push(entry(&state, l).await?);
    }
    Ok(Json(DirectoryPage { items }))
}

/// One office, with the certificate to seal to.
#[utoipa::path(get, path = "/directory/{number}", tag = "directory", security(("bearer" = [])),
    params(("number" = String, Path, description = "介護保険事業所番号")),
    responses((status = 200, body = DirectoryEntry), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn office(
    State(state): State<RelayState>,
    _session: OfficeSession,
    ApiPath(number): ApiPath<String>,
) -> ApiResult<Json<DirectoryEntry>> {
    let number: OfficeNumber = number.parse().map_err(|e: renkei_ids::IdError| {
        ApiError::detail(ErrorCode::InvalidIdentifier, e.to_string())
    })?;
    let listings = state
        .store()
        .search_offices(&OfficeQuery {
            number_prefix: Some(number.to_string()),
            limit: 1,
            ..Default::default()
        })
        .await?;
    let l = listings
        .into_iter()
        .find(|l| l.office.number == number)
        .ok_or(ApiError::new(ErrorCode::OfficeNotFound))?;
    Ok(Json(entry(&state, l).await?))
}

fn cert_status(c: &CertRecord, now: i64, with_pem: bool) -> CertStatus {
    let status = if c.revoked_at.is_some() {
        "revoked"
    } else if now > c.not_after {
        "expired"
    } else {
        "good"
    };
    CertStatus {
        serial: c.serial.clone(),
        office: c.office.clone(),
        status: status.to_owned(),
        not_after: datetime(c.not_after),
        revoked_at: c.revoked_at.map(datetime),
        revocation_reason: c.revocation_reason.clone(),
        pem: with_pem.then(|| c.pem.clone()),
    }
}

/// Status of one certificate (recipients check the sender's certificate with it).
#[utoipa::path(get, path = "/certificates/{serial}", tag = "certificates", security(("bearer" = [])),
    params(("serial" = String, Path, description = "serial, lower-case hex")),
    responses((status = 200, body = CertStatus), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn certificate(
    State(state): State<RelayState>,
    _session: OfficeSession,
    ApiPath(serial): ApiPath<String>,
) -> ApiResult<Json<CertStatus>> {
    let c = state
        .store()
        .certificate(&serial.to_ascii_lowercase())
        .await?
        .ok_or(ApiError::new(ErrorCode::CertificateNotFound))?;
    Ok(Json(cert_status(&c, state.now(), true)))
}

/// Every revoked certificate.
#[utoipa::path(get, path = "/certificates/revoked", tag = "certificates", security(("bearer" = [])),
    responses((status = 200, body = RevocationList), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn revoked(
    State(state): State<RelayState>,
    _session: OfficeSession,
) -> ApiResult<Json<RevocationList>> {
    let now = state.now();
    let revoked = state
        .store()
        .revoked_certificates()
        .await?
        .iter()
        .map(|c| cert_status(c, now, false))
        .collect();
    Ok(Json(RevocationList { revoked }))
}

/// The office's own audit trail with a signed checkpoint; verifiable offline with the CA
/// certificate.
#[utoipa::path(get, path = "/audit/export", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = AuditExport), (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn audit_export(
    State(state): State<RelayState>,
    session: OfficeSession,
) -> ApiResult<Response> {
    let now = state.now();
    // Record the export itself first, so the checkpoint covers it.
    audit_best_effort(
        &state,
        vec![audit(
            &session.office,
            now,
            "audit.exported",
            session.user_id.as_str(),
            serde_json::json!({}),
        )],
    )
    .await;
    // The first page before answering, so that a store that is down is still a problem
    // document; the rest is written page by page (memory stays at one page however long the
    // trail), and the checkpoint is signed over the last entry actually written.
    let first = state
        .store()
        .audit_entries(&session.office, 0, EXPORT_PAGE)
        .await?;
    let office = session.office.clone();
    let prefix = format!(
        "{{\"type\":{},\"office\":{},\"entries\":[",
        serde_json::Value::from(renkei_evidence::AUDIT_EXPORT_TYPE),
        serde_json::Value::from(office.as_str()),
    );
    let pages = futures::stream::unfold(
        Export {
            state,
            office,
            now,
            page: first,
            last: None,
            finished: false,
        },
        |mut ex| async move {
            if ex.finished {
                return None;
            }
            match ex.next_piece().await {
                Ok(piece) => Some((Ok::<_, std::io::Error>(piece), ex)),
                Err(e) => {
                    // Already answered 200: cut the body off, so that the client sees a
                    // transfer error rather than a complete-looking document.
                    let code = e.code();
                    tracing::error!(code = ?code, "audit export cut off");
                    ex.finished = true;
                    let err = std::io::Error::other(format!("audit export cut off: {code:?}"));
                    Some((Err(err), ex))
                }
            }
        },
    );
    let body = futures::stream::once(async move { Ok(bytes::Bytes::from(prefix)) }).chain(pages);
    Ok((
        [(http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// A JSON serialisation that failed (a bug): logged, answered as internal.
fn internal(e: serde_json::Error) -> ApiError {
    tracing::error!(error = %e, "cannot serialise the audit export");
    ApiError::new(ErrorCode::Internal)
}

/// Entries per page of an export (one page in memory at a time).
const EXPORT_PAGE: u32 = 1000;

/// An audit export being written.
struct Export {
    state: RelayState,
    office: OfficeNumber,
    now: i64,
    /// The entries to write next (empty: the trail is written).
    page: Vec<AuditRecord>,
    last: Option<AuditRecord>,
    finished: bool,
}

impl Export {
    /// The next piece of the JSON document: a page of entries, or the closing checkpoint.
    async fn next_piece(&mut self) -> Result<bytes::Bytes, ApiError> {
        if self.page.is_empty() {
            self.finished = true;
            let checkpoint = self
                .state
                .notary()
                .checkpoint(&self.office, self.last.as_ref(), self.now)
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot sign the audit checkpoint");
                    ApiError::new(ErrorCode::Internal)
                })?;
            let checkpoint = serde_json::to_string(&checkpoint).map_err(internal)?;
            let cert = serde_json::Value::from(self.state.notary().relay_cert_pem());
            return Ok(bytes::Bytes::from(format!(
                "],\"checkpoint\":{checkpoint},\"relay_cert\":{cert}}}"
            )));
        }
        let mut out = Vec::new();
        for r in &self.page {
            if self.last.is_some() {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, &crate::notary::entry_of(r)).map_err(internal)?;
            self.last = Some(r.clone());
        }
        let after = self.last.as_ref().map_or(0, |r| r.seq);
        self.page = self
            .state
            .store()
            .audit_entries(&self.office, after, EXPORT_PAGE)
            .await?;
        Ok(bytes::Bytes::from(out))
    }
}
