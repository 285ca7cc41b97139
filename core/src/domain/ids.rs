//! Identifiers as newtypes, so a person's id can never be passed where a user's id is meant.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        #[serde(transparent)]
        pub struct $name(pub ::uuid::Uuid);

        impl $name {
            /// A new, time-ordered (UUID v7) identifier.
            pub fn new() -> Self {
                Self(::uuid::Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> ::uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl From<::uuid::Uuid> for $name {
            fn from(value: ::uuid::Uuid) -> Self {
                Self(value)
            }
        }
    };
}

id_type!(
    /// A person who receives support: the subject of plans, appointments and the audit log.
    PersonId
);
id_type!(
    /// An account that signs in: a service user, carer, peer worker, practitioner or admin.
    UserId
);
id_type!(
    /// A Living Well team, working from one hub.
    TeamId
);
id_type!(
    /// One consent a person gave a carer.
    ConsentId
);
id_type!(
    /// One time-boxed emergency ("break glass") grant.
    EmergencyAccessId
);

// Other domain modules declare their own identifiers with the same macro.
pub(crate) use id_type;
