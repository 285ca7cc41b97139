//! Reads a phone showed offline, uploaded once it is back online
//! (`POST /v1/audit/offline-reads`). Each read is decided by the policy as of the moment the
//! phone showed it and recorded in the person's access log — as an offline read, or as a
//! refused attempt — through [`crate::service::offline_reads`].

use axum::extract::State;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::audit::{OfflineReadsRequest, OfflineReadsResponse};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AppUser, RequestId, ValidJson};
use crate::auth::Caller;
use crate::policy::{self, Resource};
use crate::service::offline_reads::DecidedRead;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload_offline_reads))
}

/// Uploads reads the phone showed from its own store while offline. Each is accepted when the
/// caller could see that record (and, for the crisis plan, those sections) at its `read_at`,
/// and then appears in the person's access log as an offline read with both times; otherwise
/// it is recorded as a refused attempt. Each `event_id` counts once: sent again, a read is
/// answered `already_recorded` and nothing new is stored.
#[utoipa::path(post, path = "/v1/audit/offline-reads", tag = "audit", security(("bearer" = [])),
    request_body = OfflineReadsRequest,
    responses((status = 200, body = OfflineReadsResponse, description = "What became of each read"), (status = 422, body = ErrorBody)))]
async fn upload_offline_reads(
    State(state): State<AppState>,
    AppUser(user): AppUser,
    RequestId(request_id): RequestId,
    ValidJson(request): ValidJson<OfflineReadsRequest>,
) -> ApiResult<axum::Json<OfflineReadsResponse>> {
    let errors = request.field_errors_at(state.clock.now());
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let caller = Caller::User(user.clone());
    let mut decided = Vec::with_capacity(request.reads.len());
    for read in request.reads {
        let resource = Resource::from(read.record);
        let relationship =
            policy::relationship_at(state.store.as_ref(), &user, read.person_id, read.read_at)
                .await?;
        let decision = policy::decide_offline_read(
            &caller,
            &relationship,
            resource,
            read.sections.as_ref(),
            read.read_at,
        );
        decided.push(DecidedRead {
            read,
            resource,
            decision,
        });
    }
    let reads = state
        .offline_reads
        .record(&caller, user.id, decided, &request_id)
        .await?;
    Ok(axum::Json(OfflineReadsResponse { reads }))
}
