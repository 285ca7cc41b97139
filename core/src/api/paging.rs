//! One cursor vocabulary for every list the API answers (not `/v1/sync`, which has its own
//! protocol): a request names where its page starts with `cursor` and how long it may be with
//! `limit`; the answer carries `next_cursor` (absent on the last page) and, for clients that
//! follow links, a `Link: <…>; rel="next"` header with the same cursor in the same request.
//!
//! A cursor is opaque: a client passes back exactly what it was given and never builds one.
//! That leaves each list free to page by what keeps it flat as history grows (an id, a number,
//! a start time and id) without the contract changing.

/// The query parameter naming where a page starts: a `next_cursor` from the page before.
pub const CURSOR_PARAM: &str = "cursor";
/// The query parameter bounding how many items one page holds.
pub const LIMIT_PARAM: &str = "limit";
/// The answer header linking to the next page, as RFC 8288 `rel="next"`.
pub const LINK_HEADER: &str = "link";

/// A page of a list: whatever else it holds, it says where the next page starts.
pub trait Page {
    /// The `cursor` of the next page; `None` on the last.
    fn next_cursor(&self) -> Option<&str>;
}

/// Implements [`Page`] for page types whose `next_cursor` field says it.
macro_rules! pages {
    ($($page:ty),* $(,)?) => {
        $(impl Page for $page {
            fn next_cursor(&self) -> Option<&str> {
                self.next_cursor.as_deref()
            }
        })*
    };
}

pages!(
    super::appointments::AppointmentPage,
    super::caseload::TeamRatingPage,
    super::appointments::ProgrammePage,
    super::events::NotificationPage,
    super::messages::MessagePage,
    super::people::AccessLogPage,
    super::people::CaseloadView,
    super::plans::VersionPage,
    super::plans::CommentPage,
    super::referrals::ReferralPage,
    super::webhooks::DeliveryPage,
);

/// How long the pages of one list are: `default` when the request names no `limit`, and at
/// most `max` (a larger `limit` is refused, naming the field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageSize {
    pub default: i64,
    pub max: i64,
}

impl PageSize {
    /// Whether `limit` may be asked for.
    pub fn allows(self, limit: i64) -> bool {
        (1..=self.max).contains(&limit)
    }
}

/// A person's appointments, and a diary.
pub const APPOINTMENTS: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// Workshop programmes.
pub const PROGRAMMES: PageSize = PageSize {
    default: 20,
    max: 50,
};
/// Messages of a conversation.
pub const MESSAGES: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// The caller's stored notifications.
pub const NOTIFICATIONS: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// A person's access log.
pub const ACCESS_LOG: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// The versions of a plan.
pub const PLAN_VERSIONS: PageSize = PageSize {
    default: 50,
    max: 100,
};
/// Comments on a plan.
pub const PLAN_COMMENTS: PageSize = PageSize {
    default: 50,
    max: 100,
};
/// Records of one sync (`GET /v1/sync`): a first sync of a long history takes several.
pub const SYNC: PageSize = PageSize {
    default: 200,
    max: 1000,
};
/// A webhook subscription's delivery log.
pub const WEBHOOK_DELIVERIES: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// A search of the FHIR facade (`_count`, the FHIR name for `limit`).
pub const FHIR_SEARCH: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// A team's satisfaction ratings.
pub const TEAM_RATINGS: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// Referrals waiting for triage.
pub const REFERRALS: PageSize = PageSize {
    default: 50,
    max: 200,
};
/// A team's caseload.
pub const CASELOAD: PageSize = PageSize {
    default: 100,
    max: 200,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_size_allows_one_to_its_max() {
        assert!(!APPOINTMENTS.allows(0));
        assert!(APPOINTMENTS.allows(1));
        assert!(APPOINTMENTS.allows(200));
        assert!(!APPOINTMENTS.allows(201));
    }
}
