//! Time windows and the cursor over appointments in start order.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use livingwell_core::api::FieldError;
use livingwell_core::domain::FieldErrorCode;
use livingwell_core::domain::appointment::AppointmentId;

use super::WINDOW_MAX_DAYS;
use crate::http::error::{ApiError, ApiResult};
use crate::http::paging;
use crate::store::appointments::{AppointmentRecord, Window};

/// The earliest and latest instants a window may name; outside them a date is a mistake.
pub(super) fn plausible(at: DateTime<Utc>) -> bool {
    let bounds = (
        Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).single(),
        Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).single(),
    );
    matches!(bounds, (Some(lo), Some(hi)) if lo <= at && at < hi)
}

pub(super) fn window(
    now: DateTime<Utc>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    cursor: Option<&str>,
    default_back: Duration,
    default_span: Duration,
) -> ApiResult<Window> {
    let mut errors = Vec::new();
    for (field, value) in [("from", from), ("to", to)] {
        if value.is_some_and(|v| !plausible(v)) {
            errors.push(FieldError::new(field, FieldErrorCode::OutOfRange));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let from = from.unwrap_or(now - default_back);
    let to = to.unwrap_or(from + default_span);
    if to <= from {
        return Err(ApiError::invalid("to", FieldErrorCode::NotAfterFrom));
    }
    if to - from > Duration::days(WINDOW_MAX_DAYS) {
        return Err(ApiError::invalid("to", FieldErrorCode::WindowTooLong));
    }
    let after = cursor.map(decode_cursor).transpose()?;
    Ok(Window { from, to, after })
}

pub(in crate::http) fn encode_cursor(record: &AppointmentRecord) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}|{}",
        record
            .starts_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
        record.id
    ))
}

pub(in crate::http) fn decode_cursor(cursor: &str) -> ApiResult<(DateTime<Utc>, AppointmentId)> {
    let invalid = || ApiError::invalid("cursor", FieldErrorCode::Invalid);
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once('|').ok_or_else(invalid)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| invalid())?;
    let id = id.parse().map_err(|_| invalid())?;
    Ok((at.with_timezone(&Utc), id))
}

pub(super) fn next_cursor(records: &[AppointmentRecord], limit: i64) -> Option<String> {
    paging::next_cursor(records, limit, encode_cursor)
}
