//! Every request has a deadline (`serve --request-timeout-secs`, 10 s by default). One that has
//! not answered by then is answered 503 `unavailable` with `Retry-After`, so a slow or stuck
//! database never leaves a phone or a staff system hanging; the store's statement timeout
//! (`StoreSettings`, 5 s) usually ends a slow query first. Event streams are exempt: they are
//! meant to stay open. A keyed write still running at its deadline goes on to its end
//! (`Idempotency::run_to_end`), so the retry finds its answer kept, never a second write.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use livingwell_core::api::routes;

use super::error::{ApiError, RETRY_AFTER_UNAVAILABLE};

/// What `serve` uses unless told otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The middleware: answers 503 for a request that outlives its deadline.
pub async fn deadline(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    if request.uri().path() == routes::EVENT_STREAM.path(&[]) {
        return next.run(request).await;
    }
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!("a request passed its deadline; answered 503");
            ApiError::RetryLater(RETRY_AFTER_UNAVAILABLE).into_response()
        }
    }
}
