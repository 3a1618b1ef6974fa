//! The route table and the OpenAPI document generated from it.

use axum::response::IntoResponse;
use renkei_api::{ErrorCode, API_PREFIX};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::handlers::{messages, session};
use crate::{directory, RelayState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Renkei relay API",
        description = "連携 relay: store and forward end-to-end encrypted care plan files between offices. \
            Every call needs mutual TLS with the office's device certificate; every error is an RFC 9457 \
            problem document with a stable `code` and Japanese and English messages.",
        license(name = "Apache-2.0")
    ),
    servers((url = "/api/v1")),
    components(schemas(renkei_api::Problem, renkei_api::ErrorCode)),
    modifiers(&BearerAuth),
    tags(
        (name = "session", description = "Two-stage login"),
        (name = "messages", description = "Send, receive, acknowledge"),
        (name = "directory", description = "Offices and their certificates"),
        (name = "certificates", description = "Certificate status"),
        (name = "audit", description = "Audit trail export"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn routes() -> OpenApiRouter<RelayState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::login_user))
        .routes(routes!(session::login_office))
        .routes(routes!(session::logout))
        .routes(routes!(messages::send))
        .routes(routes!(messages::inbox))
        .routes(routes!(messages::outbox))
        .routes(routes!(messages::status))
        .routes(routes!(messages::download))
        .routes(routes!(messages::ack))
        .routes(routes!(directory::search))
        .routes(routes!(directory::office))
        .routes(routes!(directory::revoked))
        .routes(routes!(directory::certificate))
        .routes(routes!(directory::audit_export))
}

/// The OpenAPI document of `/api/v1`, generated from the routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = routes().split_for_parts();
    api
}

/// The document as pretty JSON with a trailing newline (the committed `docs/openapi.json`).
pub fn openapi_json() -> String {
    let mut s = openapi().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound)
}

pub(crate) fn build(state: RelayState) -> axum::Router {
    let (api_router, api) = routes().split_for_parts();
    let doc = std::sync::Arc::new(openapi_json());
    let _ = api;
    let api_router = api_router.route(
        "/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move {
                (
                    [(http::header::CONTENT_TYPE, "application/json")],
                    doc.as_str().to_owned(),
                )
                    .into_response()
            }
        }),
    );
    axum::Router::new()
        .nest(API_PREFIX, api_router.fallback(not_found))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(axum::middleware::from_fn(run_to_completion))
        .with_state(state)
}

/// Run each request in its own task. When a client disconnects, hyper drops the request's
/// future at whatever `.await` it has reached; a handler half-way through a database
/// transaction or an audit append would be cut off there. In its own task the handler always
/// finishes (and rolls back or commits properly); only its response is discarded.
async fn run_to_completion(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::spawn(next.run(req)).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = %e, "request task failed");
            ApiError::new(ErrorCode::Internal).into_response()
        }
    }
}
