//! The ids of the resources the facade serves, and reading them back.
//!
//! A FHIR id is at most 64 of `[A-Za-z0-9.-]`. Records with an id of their own (a person, an
//! appointment, a consent) keep it. The rest are named by what they are part of:
//! - the two care plans by their person: `{person}-enablement`, `{person}-crisis`;
//! - a goal or an outcome rating by the version of the Enablement Plan it is in and its place
//!   there: `{person}-v{version}-g{goal}`, `{person}-v{version}-r{rating}-d{domain}` (from 1;
//!   domains in `OUTCOME_DOMAINS` order). Versions are immutable, so such an id always names
//!   the same goal as it stood in that version, even after the plan moves on;
//! - a carer by the person and the carer's account, both as 32 hex digits (64 in all), since a
//!   carer can be linked to several people.

use livingwell_core::domain::plan::OUTCOME_DOMAINS;
use livingwell_core::domain::{PersonId, UserId};
use uuid::Uuid;

/// Which of the person's two care plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarePlanKind {
    Enablement,
    Crisis,
}

impl CarePlanKind {
    fn suffix(self) -> &'static str {
        match self {
            CarePlanKind::Enablement => "enablement",
            CarePlanKind::Crisis => "crisis",
        }
    }
}

/// A place in one version of the Enablement Plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InPlan {
    pub person: PersonId,
    pub version: i32,
}

pub fn care_plan(person: PersonId, kind: CarePlanKind) -> String {
    format!("{person}-{}", kind.suffix())
}

pub fn read_care_plan(id: &str) -> Option<(PersonId, CarePlanKind)> {
    let (person, rest) = person_prefix(id)?;
    [CarePlanKind::Enablement, CarePlanKind::Crisis]
        .into_iter()
        .find(|kind| rest == format!("-{}", kind.suffix()))
        .map(|kind| (person, kind))
}

/// Goal `index` (from 0) of a version.
pub fn goal(at: InPlan, index: usize) -> String {
    format!("{}-v{}-g{}", at.person, at.version, index + 1)
}

/// The version and the goal's index (from 0).
pub fn read_goal(id: &str) -> Option<(InPlan, usize)> {
    let (person, rest) = person_prefix(id)?;
    let (version, goal) = rest.strip_prefix("-v")?.split_once("-g")?;
    Some((
        InPlan {
            person,
            version: number(version)?,
        },
        number::<usize>(goal)?.checked_sub(1)?,
    ))
}

/// Rating `rating` (from 0) of a version, for the domain at `domain` in `OUTCOME_DOMAINS`.
pub fn observation(at: InPlan, rating: usize, domain: usize) -> String {
    format!(
        "{}-v{}-r{}-d{}",
        at.person,
        at.version,
        rating + 1,
        domain + 1
    )
}

/// The version, the rating's index and the domain's index (each from 0).
pub fn read_observation(id: &str) -> Option<(InPlan, usize, usize)> {
    let (person, rest) = person_prefix(id)?;
    let (version, rest) = rest.strip_prefix("-v")?.split_once("-r")?;
    let (rating, domain) = rest.split_once("-d")?;
    let domain = number::<usize>(domain)?.checked_sub(1)?;
    if domain >= OUTCOME_DOMAINS.len() {
        return None;
    }
    Some((
        InPlan {
            person,
            version: number(version)?,
        },
        number::<usize>(rating)?.checked_sub(1)?,
        domain,
    ))
}

pub fn related_person(person: PersonId, carer: UserId) -> String {
    format!("{}{}", person.as_uuid().simple(), carer.as_uuid().simple())
}

pub fn read_related_person(id: &str) -> Option<(PersonId, UserId)> {
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if id.len() != 64 || !id.bytes().all(lower_hex) {
        return None;
    }
    let (person, carer) = id.split_at(32);
    Some((
        PersonId::from(Uuid::try_parse(person).ok()?),
        UserId::from(Uuid::try_parse(carer).ok()?),
    ))
}

/// The person whose id starts `id`, and what follows it.
fn person_prefix(id: &str) -> Option<(PersonId, &str)> {
    let person = PersonId::from(uuid(id.get(..36)?)?);
    Some((person, &id[36..]))
}

/// A UUID written as this server writes them (hyphenated, lower case): ids are compared as
/// text, so another spelling of the same UUID is another id, which names nothing.
pub fn uuid(id: &str) -> Option<Uuid> {
    let uuid = Uuid::try_parse(id).ok()?;
    (uuid.hyphenated().to_string() == id).then_some(uuid)
}

/// A number written plainly: digits only, no sign, no leading zero.
fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
    let plain = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if plain { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_reads_back_and_fits_fhirs_rules() {
        let person = PersonId::new();
        let at = InPlan {
            person,
            version: 12,
        };
        let carer = UserId::new();
        let ids = [
            care_plan(person, CarePlanKind::Enablement),
            care_plan(person, CarePlanKind::Crisis),
            goal(at, 0),
            observation(at, 3, 9),
            related_person(person, carer),
        ];
        for id in &ids {
            assert!(id.len() <= 64, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
                "{id}"
            );
        }
        assert_eq!(
            read_care_plan(&ids[0]),
            Some((person, CarePlanKind::Enablement))
        );
        assert_eq!(
            read_care_plan(&ids[1]),
            Some((person, CarePlanKind::Crisis))
        );
        assert_eq!(read_goal(&ids[2]), Some((at, 0)));
        assert_eq!(read_observation(&ids[3]), Some((at, 3, 9)));
        assert_eq!(read_related_person(&ids[4]), Some((person, carer)));
    }

    #[test]
    fn ids_of_another_shape_name_nothing() {
        let person = PersonId::new();
        for id in [
            format!("{person}-crisis-plan"),
            format!("{person}-v1-g0"),
            format!("{person}-v01-g1"),
            format!("{person}-v1-g+1"),
            format!("{person}-v1-r1-d11"),
            format!("{person}-v1-r1"),
            "not-a-person-enablement".to_owned(),
            "zz".repeat(32),
            person.to_string().to_uppercase() + "-crisis",
            String::new(),
        ] {
            assert_eq!(read_care_plan(&id), None, "{id}");
            assert_eq!(read_goal(&id), None, "{id}");
            assert_eq!(read_observation(&id), None, "{id}");
            assert_eq!(read_related_person(&id), None, "{id}");
        }
    }
}
