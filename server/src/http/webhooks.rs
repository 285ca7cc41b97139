//! Staff systems' webhook subscriptions: `/v1/webhooks`.
//!
//! Policy: only a staff system (an app account gets 403) holding `webhooks:manage` (else 403
//! `insufficient_scope`, before the body is read) manages subscriptions, and only its own:
//! another system's subscription is answered 404, as if it did not exist. Subscribing to a
//! kind needs the scope that kind needs ([`scope_to_receive`]), checked again at every
//! delivery. Every call is audited as any staff system's call is (`extract::audit_call`).
//! What is sent, and how, is [`crate::service::webhooks`].

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::paging as page;
use livingwell_core::api::webhooks::{
    CreateWebhookRequest, DeliveryId, DeliveryPage, DeliveryQuery, DeliveryView, WebhookId,
    WebhookList, WebhookSecretView, WebhookView, scope_to_receive,
};
use livingwell_core::domain::StaffScope;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Path, Query, StaffSystem, ValidJson};
use super::paging::{self, Paged};
use crate::auth::StaffSystemCaller;
use crate::store::webhooks::{DeliveryRecord, WebhookRecord};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(enable_webhook))
}

/// A staff system holding `webhooks:manage`: read from the request's parts, so a caller
/// without it is refused before its body is looked at.
#[derive(Debug)]
struct Manager(StaffSystemCaller);

impl axum::extract::FromRequestParts<AppState> for Manager {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let system = StaffSystem::from_request_parts(parts, state).await?;
        system.require(StaffScope::WebhooksManage)?;
        Ok(Manager(system.0))
    }
}

/// The calling staff system's subscriptions, oldest first.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "The caller's subscriptions", body = WebhookList),
              (status = 403, description = "Not a staff system, or without `webhooks:manage`", body = ErrorBody)))]
async fn list_webhooks(
    State(state): State<AppState>,
    Manager(client): Manager,
) -> ApiResult<axum::Json<WebhookList>> {
    let webhooks = state.store.webhooks_of(&client.client_id).await?;
    Ok(axum::Json(WebhookList {
        subscriptions: webhooks.iter().map(webhook_view).collect(),
    }))
}

/// Subscribe to kinds of event. The answer holds the signing secret, shown this once. Each
/// delivery is a POST of `{"type", "timestamp", "data"}` (ids only) signed as Standard
/// Webhooks do: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses((status = 201, description = "Subscribed; the secret is shown only here", body = WebhookSecretView),
              (status = 403, description = "Not a staff system, or without `webhooks:manage` or the scope a kind needs", body = ErrorBody),
              (status = 422, description = "A field is refused: `url` (its form, or an address webhooks are not sent to) or `kinds`", body = ErrorBody)))]
async fn create_webhook(
    State(state): State<AppState>,
    Manager(client): Manager,
    ValidJson(request): ValidJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, axum::Json<WebhookSecretView>)> {
    for kind in &request.kinds {
        // Every kind left after validation is offered to staff systems, with its scope.
        if let Some(scope) = scope_to_receive(*kind)
            && !client.scopes.contains(&scope)
        {
            return Err(ApiError::InsufficientScope(scope));
        }
    }
    let (webhook, secret) = state.webhooks.subscribe(&client.client_id, request).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(WebhookSecretView {
            subscription: webhook_view(&webhook),
            secret,
        }),
    ))
}

/// One of the caller's subscriptions: whether it is on, and why not.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = WebhookId, Path, description = "The subscription")),
    responses((status = 200, description = "The subscription", body = WebhookView),
              (status = 403, description = "Not a staff system, or without `webhooks:manage`", body = ErrorBody),
              (status = 404, description = "The caller has no subscription of this id", body = ErrorBody)))]
async fn get_webhook(
    State(state): State<AppState>,
    Manager(client): Manager,
    Path(id): Path<WebhookId>,
) -> ApiResult<axum::Json<WebhookView>> {
    let webhook = state
        .store
        .webhook(&client.client_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(webhook_view(&webhook)))
}

/// Unsubscribe: the subscription and its deliveries, sent or waiting, are removed.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = WebhookId, Path, description = "The subscription")),
    responses((status = 204, description = "Removed"),
              (status = 403, description = "Not a staff system, or without `webhooks:manage`", body = ErrorBody),
              (status = 404, description = "The caller has no subscription of this id", body = ErrorBody)))]
async fn delete_webhook(
    State(state): State<AppState>,
    Manager(client): Manager,
    Path(id): Path<WebhookId>,
) -> ApiResult<StatusCode> {
    state.webhooks.delete(&client.client_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turn a subscription back on after it was turned off; deliveries that waited go now.
#[utoipa::path(post, path = "/v1/webhooks/{id}/enable", tag = "webhooks", security(("bearer" = [])),
    params(("id" = WebhookId, Path, description = "The subscription")),
    responses((status = 200, description = "On again", body = WebhookView),
              (status = 403, description = "Not a staff system, or without `webhooks:manage`", body = ErrorBody),
              (status = 404, description = "The caller has no subscription of this id", body = ErrorBody)))]
async fn enable_webhook(
    State(state): State<AppState>,
    Manager(client): Manager,
    Path(id): Path<WebhookId>,
) -> ApiResult<axum::Json<WebhookView>> {
    let webhook = state.webhooks.enable(&client.client_id, id).await?;
    Ok(axum::Json(webhook_view(&webhook)))
}

/// A subscription's delivery log, newest first: each event sent or to be sent, its attempts
/// (time, status, class of failure), when the next is due and when it was delivered.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = WebhookId, Path, description = "The subscription"), DeliveryQuery),
    responses((status = 200, description = "A page of deliveries", body = DeliveryPage, headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))),
              (status = 403, description = "Not a staff system, or without `webhooks:manage`", body = ErrorBody),
              (status = 404, description = "The caller has no subscription of this id", body = ErrorBody)))]
async fn list_deliveries(
    State(state): State<AppState>,
    Manager(client): Manager,
    Path(id): Path<WebhookId>,
    Query(query): Query<DeliveryQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<DeliveryPage>> {
    let limit = paging::limit(query.limit, page::WEBHOOK_DELIVERIES)?;
    let before: Option<DeliveryId> = paging::cursor(query.cursor.as_deref())?;
    // Another system's subscription is not known to this one.
    if state.store.webhook(&client.client_id, id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let deliveries = state.store.deliveries(id, before, limit).await?;
    let next_cursor = paging::next_cursor(&deliveries, limit, |delivery| delivery.id);
    Ok(Paged::new(
        DeliveryPage {
            deliveries: deliveries.iter().map(delivery_view).collect(),
            next_cursor,
        },
        &uri,
        &[],
    ))
}

fn webhook_view(webhook: &WebhookRecord) -> WebhookView {
    WebhookView {
        id: webhook.id,
        url: webhook.url.clone(),
        kinds: webhook.kinds.clone(),
        created_at: webhook.created_at,
        disabled_at: webhook.disabled_at,
        disabled_reason: webhook.disabled_reason,
    }
}

fn delivery_view(delivery: &DeliveryRecord) -> DeliveryView {
    DeliveryView {
        id: delivery.id,
        event_id: delivery.event_id,
        kind: delivery.kind,
        state: delivery.state,
        created_at: delivery.created_at,
        attempts: delivery.attempts.clone(),
        next_attempt_at: delivery.next_attempt_at,
        delivered_at: delivery.delivered_at,
    }
}
