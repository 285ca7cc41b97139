//! Every route of the API, named once: its method and path template. A client builds its
//! paths from here; the server is held to the same list (`tests/tests/route_policy.rs` checks
//! it against the served OpenAPI document, where the shapes of bodies live).

/// The HTTP methods the API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One route: a method and a path template whose `{…}` placeholders are ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    pub method: Method,
    pub template: &'static str,
}

impl Route {
    const fn new(method: Method, template: &'static str) -> Self {
        Self { method, template }
    }

    /// The path with its placeholders filled in order from `ids` (UUIDs and numbers, which
    /// need no escaping). A placeholder with no id left stays as it is, so a missing id shows
    /// in the path rather than vanishing.
    pub fn path(&self, ids: &[&str]) -> String {
        let mut path = String::with_capacity(self.template.len() + 36 * ids.len());
        let mut ids = ids.iter();
        let mut rest = self.template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|at| open + at) else {
                break;
            };
            path.push_str(&rest[..open]);
            match ids.next() {
                Some(id) => path.push_str(id),
                None => path.push_str(&rest[open..=close]),
            }
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        path
    }
}

pub const JWKS: Route = Route::new(Method::Get, "/.well-known/jwks.json");
pub const OAUTH_METADATA: Route =
    Route::new(Method::Get, "/.well-known/oauth-authorization-server");
/// The FHIR R4 facade for staff systems: searches by `patient` (Patient also by `_id`) answer
/// a `searchset` Bundle; reads by id answer the resource.
pub const FHIR_APPOINTMENTS: Route = Route::new(Method::Get, "/fhir/r4/Appointment");
pub const FHIR_APPOINTMENT: Route = Route::new(Method::Get, "/fhir/r4/Appointment/{id}");
pub const FHIR_CARE_PLANS: Route = Route::new(Method::Get, "/fhir/r4/CarePlan");
pub const FHIR_CARE_PLAN: Route = Route::new(Method::Get, "/fhir/r4/CarePlan/{id}");
pub const FHIR_CONSENTS: Route = Route::new(Method::Get, "/fhir/r4/Consent");
pub const FHIR_CONSENT: Route = Route::new(Method::Get, "/fhir/r4/Consent/{id}");
pub const FHIR_GOALS: Route = Route::new(Method::Get, "/fhir/r4/Goal");
pub const FHIR_GOAL: Route = Route::new(Method::Get, "/fhir/r4/Goal/{id}");
pub const FHIR_OBSERVATIONS: Route = Route::new(Method::Get, "/fhir/r4/Observation");
pub const FHIR_OBSERVATION: Route = Route::new(Method::Get, "/fhir/r4/Observation/{id}");
pub const FHIR_PATIENTS: Route = Route::new(Method::Get, "/fhir/r4/Patient");
pub const FHIR_PATIENT: Route = Route::new(Method::Get, "/fhir/r4/Patient/{id}");
pub const FHIR_RELATED_PEOPLE: Route = Route::new(Method::Get, "/fhir/r4/RelatedPerson");
pub const FHIR_RELATED_PERSON: Route = Route::new(Method::Get, "/fhir/r4/RelatedPerson/{id}");
/// The CapabilityStatement: what the facade serves.
pub const FHIR_METADATA: Route = Route::new(Method::Get, "/fhir/r4/metadata");
pub const HEALTHZ: Route = Route::new(Method::Get, "/healthz");
pub const CLIENT_TOKEN: Route = Route::new(Method::Post, "/oauth/token");
pub const READYZ: Route = Route::new(Method::Get, "/readyz");
pub const GET_APPOINTMENT: Route = Route::new(Method::Get, "/v1/appointments/{id}");
pub const UPDATE_APPOINTMENT: Route = Route::new(Method::Patch, "/v1/appointments/{id}");
pub const CANCEL_APPOINTMENT: Route = Route::new(Method::Delete, "/v1/appointments/{id}");
pub const ANSWER_REQUEST: Route = Route::new(Method::Post, "/v1/appointments/{id}/request-answer");
pub const RESPOND: Route = Route::new(Method::Post, "/v1/appointments/{id}/response");
pub const GET_RATING: Route = Route::new(Method::Get, "/v1/appointments/{id}/rating");
pub const RATE: Route = Route::new(Method::Put, "/v1/appointments/{id}/rating");
pub const UPLOAD_OFFLINE_READS: Route = Route::new(Method::Post, "/v1/audit/offline-reads");
pub const ACCEPT_INVITATION: Route = Route::new(Method::Post, "/v1/auth/accept-invitation");
pub const LOGIN: Route = Route::new(Method::Post, "/v1/auth/login");
pub const LOGOUT: Route = Route::new(Method::Post, "/v1/auth/logout");
pub const CHANGE_PASSWORD: Route = Route::new(Method::Post, "/v1/auth/password");
pub const REAUTHENTICATE: Route = Route::new(Method::Post, "/v1/auth/reauthenticate");
pub const REFRESH_TOKENS: Route = Route::new(Method::Post, "/v1/auth/refresh");
pub const RESET_PASSWORD: Route = Route::new(Method::Post, "/v1/auth/reset-password");
/// A calendar app's subscription: `{feed}` is the secret followed by `.ics`, and is the only
/// credential (no header).
pub const SUBSCRIBED_CALENDAR_FEED: Route = Route::new(Method::Get, "/v1/calendar-feeds/{feed}");
pub const LIST_CLIENTS: Route = Route::new(Method::Get, "/v1/clients");
pub const CREATE_CLIENT: Route = Route::new(Method::Post, "/v1/clients");
pub const DISABLE_CLIENT: Route = Route::new(Method::Post, "/v1/clients/{id}/disable");
pub const ROTATE_CLIENT_SECRET: Route = Route::new(Method::Post, "/v1/clients/{id}/secret");
pub const LIST_CONVERSATIONS: Route = Route::new(Method::Get, "/v1/conversations");
pub const LIST_MESSAGES: Route = Route::new(Method::Get, "/v1/conversations/{id}/messages");
pub const SEND_MESSAGE: Route = Route::new(Method::Post, "/v1/conversations/{id}/messages");
pub const MARK_READ: Route = Route::new(Method::Post, "/v1/conversations/{id}/read");
pub const DIARY: Route = Route::new(Method::Get, "/v1/diary");
pub const EVENT_STREAM: Route = Route::new(Method::Get, "/v1/events");
pub const INVITE: Route = Route::new(Method::Post, "/v1/invitations");
pub const REGISTER_DEVICE: Route = Route::new(Method::Post, "/v1/devices");
pub const REMOVE_DEVICE: Route = Route::new(Method::Delete, "/v1/devices");
pub const ME: Route = Route::new(Method::Get, "/v1/me");
pub const GET_AVAILABILITY: Route = Route::new(Method::Get, "/v1/me/availability");
pub const SET_AVAILABILITY: Route = Route::new(Method::Put, "/v1/me/availability");
pub const REPORT_MESSAGE: Route = Route::new(Method::Post, "/v1/messages/{id}/report");
pub const NOTIFICATIONS: Route = Route::new(Method::Get, "/v1/notifications");
pub const CREATE_PERSON: Route = Route::new(Method::Post, "/v1/people");
pub const GET_PERSON: Route = Route::new(Method::Get, "/v1/people/{id}");
pub const ACCESS_LOG: Route = Route::new(Method::Get, "/v1/people/{id}/access-log");
pub const LIST_APPOINTMENTS: Route = Route::new(Method::Get, "/v1/people/{id}/appointments");
pub const CREATE_APPOINTMENT: Route = Route::new(Method::Post, "/v1/people/{id}/appointments");
pub const CALENDAR_FEED: Route = Route::new(Method::Get, "/v1/people/{id}/appointments.ics");
pub const PERSON_BOOKINGS: Route = Route::new(Method::Get, "/v1/people/{id}/bookings");
/// Makes (or replaces) the person's secret calendar feed; answers its URL once.
pub const RESET_CALENDAR_FEED: Route = Route::new(Method::Post, "/v1/people/{id}/calendar-feed");
pub const REMOVE_CALENDAR_FEED: Route = Route::new(Method::Delete, "/v1/people/{id}/calendar-feed");
pub const LIST_CARERS: Route = Route::new(Method::Get, "/v1/people/{id}/carers");
pub const LINK_CARER: Route = Route::new(Method::Post, "/v1/people/{id}/carers");
pub const LIST_CONSENTS: Route = Route::new(Method::Get, "/v1/people/{id}/consents");
pub const GRANT_CONSENT: Route = Route::new(Method::Post, "/v1/people/{id}/consents");
pub const REVOKE_CONSENT: Route =
    Route::new(Method::Delete, "/v1/people/{id}/consents/{consent_id}");
pub const GET_CRISIS_PLAN: Route = Route::new(Method::Get, "/v1/people/{id}/crisis-plan");
pub const PRINTABLE_CRISIS_PLAN: Route =
    Route::new(Method::Get, "/v1/people/{id}/crisis-plan.html");
pub const ACTIVATE: Route = Route::new(Method::Post, "/v1/people/{id}/crisis-plan/activation");
pub const DEACTIVATE: Route = Route::new(Method::Delete, "/v1/people/{id}/crisis-plan/activation");
pub const EXCLUDE_USER: Route = Route::new(Method::Post, "/v1/people/{id}/do-not-involve");
pub const EMERGENCY_ACCESS: Route = Route::new(Method::Post, "/v1/people/{id}/emergency-access");
pub const GET_ENABLEMENT_PLAN: Route = Route::new(Method::Get, "/v1/people/{id}/enablement-plan");
pub const PUT_ENABLEMENT_PLAN: Route = Route::new(Method::Put, "/v1/people/{id}/enablement-plan");
pub const AGREE: Route = Route::new(Method::Post, "/v1/people/{id}/enablement-plan/agreement");
pub const LIST_COMMENTS: Route =
    Route::new(Method::Get, "/v1/people/{id}/enablement-plan/comments");
pub const ADD_COMMENT: Route = Route::new(Method::Post, "/v1/people/{id}/enablement-plan/comments");
pub const OUTCOME_TRAJECTORY: Route =
    Route::new(Method::Get, "/v1/people/{id}/enablement-plan/outcomes");
pub const ENABLEMENT_PLAN_SUMMARY: Route =
    Route::new(Method::Get, "/v1/people/{id}/enablement-plan/summary");
pub const ENABLEMENT_PLAN_VERSIONS: Route =
    Route::new(Method::Get, "/v1/people/{id}/enablement-plan/versions");
pub const ENABLEMENT_PLAN_VERSION: Route = Route::new(
    Method::Get,
    "/v1/people/{id}/enablement-plan/versions/{version}",
);
pub const INVITE_PERSON: Route = Route::new(Method::Post, "/v1/people/{id}/invitation");
pub const SET_KEY_WORKER: Route = Route::new(Method::Put, "/v1/people/{id}/key-worker");
pub const END_KEY_WORKER: Route = Route::new(Method::Delete, "/v1/people/{id}/key-worker");
pub const ALLOCATE_PEER: Route = Route::new(Method::Put, "/v1/people/{id}/peer-allocation");
pub const PLACE_ON_TEAM: Route = Route::new(Method::Put, "/v1/people/{id}/team");
/// Closes the case: the person leaves the team's caseload (and the service).
pub const CLOSE_CASE: Route = Route::new(Method::Delete, "/v1/people/{id}/team");
pub const GET_WRAP: Route = Route::new(Method::Get, "/v1/people/{id}/wrap");
pub const PUT_WRAP: Route = Route::new(Method::Put, "/v1/people/{id}/wrap");
pub const WRAP_SETTINGS: Route = Route::new(Method::Put, "/v1/people/{id}/wrap/settings");
/// The referrals waiting for triage the caller may triage (practitioners: their teams' and the
/// front door's; staff systems with `referrals:read`: all).
pub const LIST_REFERRALS: Route = Route::new(Method::Get, "/v1/referrals");
/// A self-referral: no account, a solved challenge from [`REFERRAL_CHALLENGE`].
pub const REFER_SELF: Route = Route::new(Method::Post, "/v1/referrals");
/// A proof-of-work challenge that pays for one self-referral.
pub const REFERRAL_CHALLENGE: Route = Route::new(Method::Get, "/v1/referrals/challenge");
/// A partner agency's or GP's referral, through a staff system with `referrals:write`.
pub const REFER_PARTNER: Route = Route::new(Method::Post, "/v1/referrals/partner");
pub const GET_REFERRAL: Route = Route::new(Method::Get, "/v1/referrals/{id}");
/// Triage: the referral's one outcome.
pub const TRIAGE_REFERRAL: Route = Route::new(Method::Patch, "/v1/referrals/{id}");
pub const LIST_PROGRAMMES: Route = Route::new(Method::Get, "/v1/programmes");
pub const CREATE_PROGRAMME: Route = Route::new(Method::Post, "/v1/programmes");
pub const GET_PROGRAMME: Route = Route::new(Method::Get, "/v1/programmes/{id}");
pub const PROGRAMME_BOOKINGS: Route = Route::new(Method::Get, "/v1/programmes/{id}/bookings");
pub const BOOK: Route = Route::new(Method::Post, "/v1/programmes/{id}/bookings");
pub const CANCEL_BOOKING: Route =
    Route::new(Method::Delete, "/v1/programmes/{id}/bookings/{booking_id}");
pub const ANSWER_OFFER: Route = Route::new(
    Method::Post,
    "/v1/programmes/{id}/bookings/{booking_id}/offer",
);
pub const ADD_FACILITATOR: Route =
    Route::new(Method::Put, "/v1/programmes/{id}/facilitators/{user_id}");
pub const REMOVE_FACILITATOR: Route =
    Route::new(Method::Delete, "/v1/programmes/{id}/facilitators/{user_id}");
pub const PERFORMANCE_REPORT: Route = Route::new(Method::Get, "/v1/reports/performance");
pub const SYNC: Route = Route::new(Method::Get, "/v1/sync");
pub const LIST_TEAMS: Route = Route::new(Method::Get, "/v1/teams");
pub const CREATE_TEAM: Route = Route::new(Method::Post, "/v1/teams");
pub const CASELOAD: Route = Route::new(Method::Get, "/v1/teams/{id}/caseload");
pub const ADD_MEMBER: Route = Route::new(Method::Put, "/v1/teams/{id}/members/{user_id}");
pub const TEAM_RATINGS: Route = Route::new(Method::Get, "/v1/teams/{id}/ratings");
pub const REMOVE_MEMBER: Route = Route::new(Method::Delete, "/v1/teams/{id}/members/{user_id}");
pub const CREATE_USER: Route = Route::new(Method::Post, "/v1/users");
pub const DISABLE: Route = Route::new(Method::Post, "/v1/users/{id}/disable");
pub const ENABLE: Route = Route::new(Method::Post, "/v1/users/{id}/enable");
pub const MAKE_RESET_CODE: Route = Route::new(Method::Post, "/v1/users/{id}/password-reset");
pub const LIST_WEBHOOKS: Route = Route::new(Method::Get, "/v1/webhooks");
pub const CREATE_WEBHOOK: Route = Route::new(Method::Post, "/v1/webhooks");
pub const GET_WEBHOOK: Route = Route::new(Method::Get, "/v1/webhooks/{id}");
pub const DELETE_WEBHOOK: Route = Route::new(Method::Delete, "/v1/webhooks/{id}");
pub const WEBHOOK_DELIVERIES: Route = Route::new(Method::Get, "/v1/webhooks/{id}/deliveries");
pub const ENABLE_WEBHOOK: Route = Route::new(Method::Post, "/v1/webhooks/{id}/enable");

/// Every route, in path order.
pub const ALL: &[Route] = &[
    JWKS,
    OAUTH_METADATA,
    FHIR_APPOINTMENTS,
    FHIR_APPOINTMENT,
    FHIR_CARE_PLANS,
    FHIR_CARE_PLAN,
    FHIR_CONSENTS,
    FHIR_CONSENT,
    FHIR_GOALS,
    FHIR_GOAL,
    FHIR_OBSERVATIONS,
    FHIR_OBSERVATION,
    FHIR_PATIENTS,
    FHIR_PATIENT,
    FHIR_RELATED_PEOPLE,
    FHIR_RELATED_PERSON,
    FHIR_METADATA,
    HEALTHZ,
    CLIENT_TOKEN,
    READYZ,
    GET_APPOINTMENT,
    UPDATE_APPOINTMENT,
    CANCEL_APPOINTMENT,
    GET_RATING,
    RATE,
    ANSWER_REQUEST,
    RESPOND,
    UPLOAD_OFFLINE_READS,
    ACCEPT_INVITATION,
    LOGIN,
    LOGOUT,
    CHANGE_PASSWORD,
    REAUTHENTICATE,
    REFRESH_TOKENS,
    RESET_PASSWORD,
    SUBSCRIBED_CALENDAR_FEED,
    LIST_CLIENTS,
    CREATE_CLIENT,
    DISABLE_CLIENT,
    ROTATE_CLIENT_SECRET,
    LIST_CONVERSATIONS,
    LIST_MESSAGES,
    SEND_MESSAGE,
    MARK_READ,
    REGISTER_DEVICE,
    REMOVE_DEVICE,
    DIARY,
    EVENT_STREAM,
    INVITE,
    ME,
    GET_AVAILABILITY,
    SET_AVAILABILITY,
    REPORT_MESSAGE,
    NOTIFICATIONS,
    CREATE_PERSON,
    GET_PERSON,
    ACCESS_LOG,
    LIST_APPOINTMENTS,
    CREATE_APPOINTMENT,
    CALENDAR_FEED,
    PERSON_BOOKINGS,
    RESET_CALENDAR_FEED,
    REMOVE_CALENDAR_FEED,
    LIST_CARERS,
    LINK_CARER,
    LIST_CONSENTS,
    GRANT_CONSENT,
    REVOKE_CONSENT,
    GET_CRISIS_PLAN,
    PRINTABLE_CRISIS_PLAN,
    ACTIVATE,
    DEACTIVATE,
    EXCLUDE_USER,
    EMERGENCY_ACCESS,
    GET_ENABLEMENT_PLAN,
    PUT_ENABLEMENT_PLAN,
    AGREE,
    LIST_COMMENTS,
    ADD_COMMENT,
    OUTCOME_TRAJECTORY,
    ENABLEMENT_PLAN_SUMMARY,
    ENABLEMENT_PLAN_VERSIONS,
    ENABLEMENT_PLAN_VERSION,
    INVITE_PERSON,
    SET_KEY_WORKER,
    END_KEY_WORKER,
    ALLOCATE_PEER,
    PLACE_ON_TEAM,
    CLOSE_CASE,
    GET_WRAP,
    PUT_WRAP,
    WRAP_SETTINGS,
    LIST_PROGRAMMES,
    CREATE_PROGRAMME,
    GET_PROGRAMME,
    PROGRAMME_BOOKINGS,
    BOOK,
    CANCEL_BOOKING,
    ANSWER_OFFER,
    ADD_FACILITATOR,
    REMOVE_FACILITATOR,
    LIST_REFERRALS,
    REFER_SELF,
    REFERRAL_CHALLENGE,
    REFER_PARTNER,
    GET_REFERRAL,
    TRIAGE_REFERRAL,
    PERFORMANCE_REPORT,
    SYNC,
    LIST_TEAMS,
    CREATE_TEAM,
    CASELOAD,
    ADD_MEMBER,
    REMOVE_MEMBER,
    TEAM_RATINGS,
    CREATE_USER,
    DISABLE,
    ENABLE,
    MAKE_RESET_CODE,
    LIST_WEBHOOKS,
    CREATE_WEBHOOK,
    GET_WEBHOOK,
    DELETE_WEBHOOK,
    WEBHOOK_DELIVERIES,
    ENABLE_WEBHOOK,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_fills_its_placeholders_in_order() {
        assert_eq!(GET_PERSON.path(&["p1"]), "/v1/people/p1");
        assert_eq!(
            REVOKE_CONSENT.path(&["p1", "c2"]),
            "/v1/people/p1/consents/c2"
        );
        assert_eq!(ME.path(&[]), "/v1/me");
        assert_eq!(
            REVOKE_CONSENT.path(&["p1"]),
            "/v1/people/p1/consents/{consent_id}"
        );
    }

    #[test]
    fn each_route_is_listed_once() {
        let unique: std::collections::BTreeSet<(&str, &str)> = ALL
            .iter()
            .map(|r| (r.method.as_str(), r.template))
            .collect();
        assert_eq!(unique.len(), ALL.len());
    }
}
