//! The caller's events: a live Server-Sent Events stream and the stored list (notifications).
//!
//! A stream lives no longer than what opened it: it ends when its session ends (sign-out, or
//! the family revoked on refresh-token reuse; announced through [`crate::events::EventHub`]) and
//! when its access token lapses (`exp` plus the leeway, on the application's clock). The client
//! then reconnects with a fresh token and `Last-Event-ID` and misses nothing, since every event
//! is stored before it is streamed.

use std::convert::Infallible;

use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_core::Stream;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::events::{
    EventStreamQuery, EventView, NotificationPage, NotificationQuery,
};
use livingwell_core::api::paging as page;
use livingwell_core::domain::FieldErrorCode;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{AppUser, Query, StreamingUser};
use super::paging::{self, Paged};
use crate::auth::CallerUser;
use crate::events::{EventNews, SessionNews};
use crate::store::Store;
use crate::store::events::EventRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(event_stream))
        .routes(routes!(notifications))
}

pub(super) fn event_view(record: &EventRecord) -> EventView {
    EventView {
        id: record.id,
        event: record.event.event.clone(),
        person_id: record.event.person_id,
        at: record.event.created_at,
    }
}

fn sse_event(record: &EventRecord) -> Event {
    let view = event_view(record);
    Event::default()
        .id(view.id.to_string())
        .event(view.event.kind().as_str())
        .json_data(&view)
        .unwrap_or_else(|_| Event::default().comment("unserialisable event"))
}

const REPLAY_PAGE: i64 = 200;

/// Server-Sent Events for the caller: every event after `Last-Event-ID` (or `after`) from
/// storage, then live ones as they happen, with heartbeats. Reconnecting with the last id seen
/// resumes without gaps. The stream ends when the session ends or the access token expires;
/// reconnect with a current token.
#[utoipa::path(get, path = "/v1/events", tag = "events", security(("bearer" = [])),
    params(EventStreamQuery),
    responses((status = 200, content_type = "text/event-stream", body = String,
               description = "Server-Sent Events. Each event's `id` is its position in the caller's \
                   stream (send the last seen back as `Last-Event-ID`), its `event` is the kind, and \
                   its `data` is one `EventView` as JSON, as in `GET /v1/notifications`; comment \
                   lines keep the connection open."),
              (status = 401, body = ErrorBody)))]
async fn event_stream(
    State(state): State<AppState>,
    StreamingUser {
        user,
        token_lapses_at,
    }: StreamingUser,
    headers: HeaderMap,
    Query(query): Query<EventStreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resume_after = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::invalid("last-event-id", FieldErrorCode::Invalid))?,
        ),
        None => query.after,
    };
    // Subscribe before reading storage, so nothing committed in between is missed; ids already
    // sent are skipped. Likewise for sessions: a sign-out between the extractor's check and
    // the subscription is caught by checking once more after subscribing.
    let mut live = state.events.subscribe();
    let mut sessions = state.events.subscribe_sessions();
    if state
        .store
        .session_user(user.session_id, user.id)
        .await?
        .is_none()
    {
        return Err(ApiError::Unauthorized);
    }
    let mut last_sent = match resume_after {
        Some(after) => after,
        None => state.store.last_event_id_for(user.id).await?,
    };
    let store = state.store.clone();
    let shutdown = state.shutdown.clone();
    let clock = state.clock.clone();
    let recipient = user.id;
    let stream = async_stream::stream! {
        let token_lapses = clock.sleep_until(token_lapses_at);
        tokio::pin!(token_lapses);
        loop {
            // Catch up from storage (at the start, and after falling behind the live feed).
            loop {
                let Ok(page) = store.events_for(recipient, last_sent, REPLAY_PAGE).await else {
                    return;
                };
                let full = page.len() as i64 == REPLAY_PAGE;
                for record in page {
                    last_sent = record.id;
                    yield Ok(sse_event(&record));
                }
                if !full {
                    break;
                }
            }
            loop {
                let received = tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = &mut token_lapses => return,
                    news = sessions.recv() => {
                        if session_ended(store.as_ref(), &user, news).await {
                            return;
                        }
                        continue;
                    }
                    received = live.recv() => received,
                };
                match received {
                    Ok(EventNews::Stored(record)) if record.event.recipient_id == Some(recipient) && record.id > last_sent => {
                        last_sent = record.id;
                        yield Ok(sse_event(&record));
                    }
                    Ok(EventNews::Stored(_)) => {}
                    Ok(EventNews::ReadYourOwn) | Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Whether `news` means the stream of `user`'s session must end.
async fn session_ended(
    store: &dyn Store,
    user: &CallerUser,
    news: Result<SessionNews, RecvError>,
) -> bool {
    match news {
        Ok(SessionNews::Ended(session)) => session == user.session_id,
        // Announcements were missed, here or by the listener: ask the database.
        Ok(SessionNews::Recheck) | Err(RecvError::Lagged(_)) => !session_is_live(store, user).await,
        // The hub is gone: the server is stopping.
        Err(RecvError::Closed) => true,
    }
}

/// Whether the session still stands. A database that cannot say counts as no: the stream ends
/// and the client's reconnect is checked afresh.
async fn session_is_live(store: &dyn Store, user: &CallerUser) -> bool {
    matches!(
        store.session_user(user.session_id, user.id).await,
        Ok(Some(_))
    )
}

/// The caller's stored notifications, oldest first, after a cursor.
#[utoipa::path(get, path = "/v1/notifications", tag = "events", security(("bearer" = [])),
    params(NotificationQuery),
    responses((status = 200, body = NotificationPage, description = "A page of notifications", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 401, body = ErrorBody)))]
async fn notifications(
    State(state): State<AppState>,
    AppUser(user): AppUser,
    Query(query): Query<NotificationQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<NotificationPage>> {
    let limit = paging::limit(query.limit, page::NOTIFICATIONS)?;
    let after: i64 = paging::cursor(query.cursor.as_deref())?.unwrap_or(0);
    let records = state.store.events_for(user.id, after, limit).await?;
    let next_cursor = paging::next_cursor(&records, limit, |record| record.id);
    Ok(Paged::new(
        NotificationPage {
            notifications: records.iter().map(event_view).collect(),
            next_cursor,
        },
        &uri,
        &[],
    ))
}
