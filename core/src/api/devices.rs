//! Phones registered for push: a device's push token, so something that needs the person's
//! attention reaches them with the app closed. A push carries an event's kind and ids only.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FieldError, Validate};
use crate::domain::FieldErrorCode;

/// Longest push token accepted (APNs and FCM tokens are far shorter).
pub const PUSH_TOKEN_MAX: usize = 4096;

/// The push service a token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushPlatform {
    /// Apple Push Notification service (iOS).
    Apns,
    /// Firebase Cloud Messaging (Android).
    Fcm,
}

/// This device's push token, for the session it is signed in with.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterDeviceRequest {
    pub platform: PushPlatform,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4096))]
    pub token: String,
}

debug_without_secrets!(RegisterDeviceRequest, platform);

impl Validate for RegisterDeviceRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let token = &self.token;
        if token.is_empty() {
            vec![FieldError::new("token", FieldErrorCode::Required)]
        } else if token.len() > PUSH_TOKEN_MAX {
            vec![FieldError::new("token", FieldErrorCode::TooLong)]
        } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
            vec![FieldError::new("token", FieldErrorCode::InvalidCharacters)]
        } else {
            Vec::new()
        }
    }
}

/// A registered device (its token is not echoed).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceView {
    pub platform: PushPlatform,
    pub registered_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_visible_ascii_of_bounded_length() {
        let request = |token: &str| RegisterDeviceRequest {
            platform: PushPlatform::Fcm,
            token: token.to_owned(),
        };
        assert!(request("abc:DEF-123_x").field_errors().is_empty());
        assert_eq!(request("").field_errors()[0].code, FieldErrorCode::Required);
        assert_eq!(
            request("two words").field_errors()[0].code,
            FieldErrorCode::InvalidCharacters
        );
        assert_eq!(
            request(&"t".repeat(PUSH_TOKEN_MAX + 1)).field_errors()[0].code,
            FieldErrorCode::TooLong
        );
    }
}
