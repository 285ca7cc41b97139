//! The server's side of the one cursor vocabulary ([`livingwell_core::api::paging`]): reading
//! `cursor` and `limit`, and answering a page with `next_cursor` and a `Link: <…>; rel="next"`
//! header that repeats the request with the next cursor.

use std::str::FromStr;

use axum::http::{HeaderName, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use livingwell_core::api::paging::{CURSOR_PARAM, LIMIT_PARAM, LINK_HEADER, Page, PageSize};
use livingwell_core::domain::FieldErrorCode;
use serde::Serialize;

use super::error::{ApiError, ApiResult};

/// The page length a request asked for, within the list's bounds; refused naming `limit`.
pub fn limit(requested: Option<i64>, size: PageSize) -> ApiResult<i64> {
    let limit = requested.unwrap_or(size.default);
    if size.allows(limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid(LIMIT_PARAM, FieldErrorCode::OutOfRange))
    }
}

/// A cursor this server gave out, read back; anything else is refused, naming `cursor`.
pub fn cursor<T: FromStr>(cursor: Option<&str>) -> ApiResult<Option<T>> {
    cursor
        .map(|text| {
            text.parse()
                .map_err(|_| ApiError::invalid(CURSOR_PARAM, FieldErrorCode::Invalid))
        })
        .transpose()
}

/// The cursor of the page after `items` when they fill the page: the position of the last.
/// A page shorter than `limit` is the last one.
pub fn next_cursor<T, P: ToString>(
    items: &[T],
    limit: i64,
    position: impl Fn(&T) -> P,
) -> Option<String> {
    let full = i64::try_from(items.len()).is_ok_and(|len| len == limit);
    if full {
        items.last().map(|item| position(item).to_string())
    } else {
        None
    }
}

/// A page answered as JSON, with a `Link` to the next one when there is one.
#[derive(Debug)]
pub struct Paged<T> {
    body: T,
    next: Option<HeaderValue>,
}

impl<T: Page> Paged<T> {
    /// `request` is the request's URI; the link repeats its path and query with `cursor` set
    /// to the page's `next_cursor` (dropping `replaced`, parameters that named a position
    /// before).
    pub fn new(body: T, request: &Uri, replaced: &[&str]) -> Self {
        let next = body
            .next_cursor()
            .and_then(|cursor| next_link(request, cursor, replaced));
        Self { body, next }
    }
}

/// Room for a page's JSON, allocated once. Grown from `axum::Json`'s 128 bytes, a page of 50
/// access-log entries (~12 KB) was copied into seven ever larger buffers on its way out.
const PAGE_BYTES: usize = 16 * 1024;

impl<T: Serialize> IntoResponse for Paged<T> {
    fn into_response(self) -> Response {
        let mut bytes = Vec::with_capacity(PAGE_BYTES);
        if serde_json::to_writer(&mut bytes, &self.body).is_err() {
            return ApiError::Internal("page").into_response();
        }
        let json = HeaderValue::from_static("application/json");
        let mut response = ([(header::CONTENT_TYPE, json)], bytes).into_response();
        if let Some(link) = self.next {
            response
                .headers_mut()
                .insert(HeaderName::from_static(LINK_HEADER), link);
        }
        response
    }
}

fn next_link(request: &Uri, cursor: &str, replaced: &[&str]) -> Option<HeaderValue> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(request.query().unwrap_or("").as_bytes()) {
        if name != CURSOR_PARAM && !replaced.contains(&name.as_ref()) {
            query.append_pair(&name, &value);
        }
    }
    query.append_pair(CURSOR_PARAM, cursor);
    // Every part is a path or percent-encoded, so the value is visible ASCII; a request path
    // that somehow is not gets no link rather than a broken one (`next_cursor` still says it).
    HeaderValue::from_str(&format!(
        "<{}?{}>; rel=\"next\"",
        request.path(),
        query.finish()
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn link(uri: &str, cursor: &str, replaced: &[&str]) -> String {
        let uri: Uri = uri.parse().unwrap();
        next_link(&uri, cursor, replaced)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn the_link_repeats_the_request_with_the_next_cursor() {
        assert_eq!(
            link("/v1/diary?team_id=t1&limit=5&cursor=old", "new", &[]),
            "</v1/diary?team_id=t1&limit=5&cursor=new>; rel=\"next\""
        );
        assert_eq!(
            link("/v1/notifications", "42", &[]),
            "</v1/notifications?cursor=42>; rel=\"next\""
        );
    }

    #[test]
    fn the_link_drops_a_replaced_parameter_and_encodes_the_cursor() {
        assert_eq!(
            link(
                "/v1/conversations/c/messages?after_seq=3",
                "a b&c",
                &["after_seq"]
            ),
            "</v1/conversations/c/messages?cursor=a+b%26c>; rel=\"next\""
        );
    }

    #[test]
    fn only_a_full_page_has_a_next_cursor() {
        assert_eq!(next_cursor(&[1, 2, 3], 3, |n| *n), Some("3".to_owned()));
        assert_eq!(next_cursor(&[1, 2], 3, |n| *n), None);
    }

    #[tokio::test]
    async fn a_page_answers_as_json_whole_with_its_link_beyond_the_room_first_allocated() {
        use livingwell_core::api::people::{AccessLogEntry, AccessLogPage};

        let entry = |seq| AccessLogEntry {
            seq,
            at: chrono::DateTime::UNIX_EPOCH,
            actor_id: Some("01a24817-6096-720e-9d49-9dcfdbefcf55".to_owned()),
            actor_name: Some("Alex Rivers".to_owned()),
            actor_role: "service_user".to_owned(),
            on_behalf_of: None,
            resource: "enablement_plan".to_owned(),
            action: "read".to_owned(),
            outcome: "allowed".to_owned(),
            relationship: Some("self".to_owned()),
            via: None,
            read_at: None,
        };
        let page = AccessLogPage {
            entries: (1..=200).rev().map(entry).collect(),
            next_cursor: Some("1".to_owned()),
        };
        let uri: Uri = "/v1/people/p/access-log?limit=200".parse().unwrap();
        let response = Paged::new(page.clone(), &uri, &[]).into_response();

        assert_eq!(response.status(), axum::http::StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            response.headers()[LINK_HEADER],
            "</v1/people/p/access-log?limit=200&cursor=1>; rel=\"next\""
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(body.len() > PAGE_BYTES, "{} bytes", body.len());
        let read: AccessLogPage = serde_json::from_slice(&body).unwrap();
        assert_eq!(read, page);
    }

    #[test]
    fn limits_and_cursors_outside_the_rules_name_their_field() {
        let size = PageSize {
            default: 10,
            max: 20,
        };
        assert_eq!(limit(None, size).unwrap(), 10);
        assert!(limit(Some(21), size).is_err());
        assert!(limit(Some(0), size).is_err());
        assert_eq!(cursor::<i64>(Some("7")).unwrap(), Some(7));
        assert!(cursor::<i64>(Some("seven")).is_err());
    }
}
