//! Parameters, and searches answered as `searchset` Bundles.
//!
//! Handling is strict: a parameter an interaction does not take is refused (400, naming it)
//! rather than ignored, since a search that silently dropped a filter would export more than
//! was asked for. Every search names its person (`patient`; a Patient search `_id`), so a
//! search is always about one record and decided and audited as such.
//!
//! Paging: `_count` (1–200, default 50) bounds a page; `_cursor` is opaque, given out in the
//! `next` link only. Each search pages by what keeps it flat as history grows: appointments by
//! start time and id on their index, consents by id on theirs; a plan's goals and ratings by
//! place in one immutable version of the plan (the cursor names the version, so a plan changed
//! mid-way through does not shift the pages); a person's carers, a bounded few, by account.

use axum::http::Uri;
use chrono::{DateTime, Utc};
use livingwell_core::api::paging::FHIR_SEARCH;
use livingwell_core::domain::PersonId;

use super::ids;
use super::model::{Bundle, BundleEntry, BundleLink, BundleSearch, BundleType, Resource};
use super::outcome::{FhirError, FhirResult, ParameterProblem};

pub const PATIENT: &str = "patient";
pub const ID: &str = "_id";
pub const COUNT: &str = "_count";
pub const CURSOR: &str = "_cursor";
/// Every interaction takes it (JSON only).
pub const FORMAT: &str = "_format";

/// The query parameters of a request, as sent.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn of(uri: &Uri) -> Self {
        let query = uri.query().unwrap_or("");
        Self(
            form_urlencoded::parse(query.as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// Refuses a parameter not in `allowed` (besides `_format`), and one given twice.
    pub fn only(&self, allowed: &[&str]) -> FhirResult<()> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if name != FORMAT && !allowed.contains(&name.as_str()) {
                return Err(FhirError::parameter(name, ParameterProblem::Unknown));
            }
            if self.0[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(FhirError::parameter(name, ParameterProblem::Repeated));
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(given, _)| given == name)
            .map(|(_, value)| value.as_str())
    }
}

/// One search: whose record, how many, from where.
#[derive(Clone, Debug)]
pub struct Search {
    pub person: PersonId,
    pub count: i64,
    pub cursor: Option<String>,
    /// Where the type is served (`{base}/fhir/r4/Goal`), for the links.
    endpoint: String,
    base: String,
}

impl Search {
    /// Reads a search of `resource_type` at `base`. Patient takes `_id` (and `patient`, the
    /// same); every other type `patient`.
    pub fn read(params: &Params, resource_type: &str, base: &str) -> FhirResult<Self> {
        let is_patient = resource_type == "Patient";
        let names: &[&str] = if is_patient {
            &[ID, PATIENT, COUNT, CURSOR]
        } else {
            &[PATIENT, COUNT, CURSOR]
        };
        params.only(names)?;
        let named = |name: &str| -> FhirResult<Option<PersonId>> {
            params
                .get(name)
                .map(|value| {
                    patient_reference(value)
                        .ok_or_else(|| FhirError::parameter(name, ParameterProblem::Invalid))
                })
                .transpose()
        };
        let by_id = if is_patient { named(ID)? } else { None };
        let person = match (by_id, named(PATIENT)?) {
            (Some(a), Some(b)) if a != b => {
                return Err(FhirError::parameter(PATIENT, ParameterProblem::Invalid));
            }
            (Some(person), _) | (None, Some(person)) => person,
            (None, None) => {
                let required = if is_patient { ID } else { PATIENT };
                return Err(FhirError::parameter(required, ParameterProblem::Missing));
            }
        };
        let count = match params.get(COUNT) {
            None => FHIR_SEARCH.default,
            Some(text) => text
                .parse()
                .ok()
                .filter(|count| FHIR_SEARCH.allows(*count))
                .ok_or_else(|| FhirError::parameter(COUNT, ParameterProblem::Invalid))?,
        };
        Ok(Self {
            person,
            count,
            cursor: params.get(CURSOR).map(str::to_owned),
            endpoint: format!("{base}/fhir/r4/{resource_type}"),
            base: base.to_owned(),
        })
    }

    /// The page length, as the number of items to take.
    pub fn take(&self) -> usize {
        usize::try_from(self.count).unwrap_or(1)
    }

    /// The cursor read with `read`; a cursor this server did not give out is refused.
    pub fn cursor<T>(&self, read: impl FnOnce(&str) -> Option<T>) -> FhirResult<Option<T>> {
        self.cursor
            .as_deref()
            .map(|text| {
                read(text).ok_or_else(|| FhirError::parameter(CURSOR, ParameterProblem::Invalid))
            })
            .transpose()
    }

    /// The page: its entries (each with its `Type/id`), `self` and, when there is one,
    /// `next`.
    pub fn bundle(
        &self,
        resources: Vec<(String, Resource)>,
        next: Option<String>,
        now: DateTime<Utc>,
    ) -> Bundle {
        let mut link = vec![BundleLink {
            relation: "self".to_owned(),
            url: self.link(self.cursor.as_deref()),
        }];
        if let Some(next) = next {
            link.push(BundleLink {
                relation: "next".to_owned(),
                url: self.link(Some(&next)),
            });
        }
        Bundle {
            resource_type: BundleType::Bundle,
            kind: "searchset".to_owned(),
            timestamp: now,
            link,
            entry: resources
                .into_iter()
                .map(|(path, resource)| BundleEntry {
                    full_url: format!("{}/fhir/r4/{path}", self.base),
                    resource,
                    search: BundleSearch {
                        mode: "match".to_owned(),
                    },
                })
                .collect(),
        }
    }

    /// This search, from `cursor`: the parameters as understood, in one spelling.
    fn link(&self, cursor: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair(PATIENT, &format!("Patient/{}", self.person));
        query.append_pair(COUNT, &self.count.to_string());
        if let Some(cursor) = cursor {
            query.append_pair(CURSOR, cursor);
        }
        format!("{}?{}", self.endpoint, query.finish())
    }
}

/// `Patient/{id}` or a bare `{id}`.
fn patient_reference(value: &str) -> Option<PersonId> {
    let id = value.strip_prefix("Patient/").unwrap_or(value);
    ids::uuid(id).map(PersonId::from)
}

/// A page of `items` from `start`: up to `take` of them, and where the next page starts
/// when any are left.
pub fn page<T>(items: Vec<T>, start: usize, take: usize) -> (Vec<T>, Option<usize>) {
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(start).take(take).collect();
    let end = start + page.len();
    (page, (end < total).then_some(end))
}

/// The last of `items` when they fill the page, where the next page starts; a page shorter
/// than `count` is the last one.
pub fn full_page_ends<T>(items: &[T], count: i64) -> Option<&T> {
    let full = i64::try_from(items.len()).is_ok_and(|len| len == count);
    if full { items.last() } else { None }
}

/// A cursor naming a version of the Enablement Plan and a place in it.
pub fn version_cursor(version: i32, position: usize) -> String {
    format!("{version}.{position}")
}

pub fn read_version_cursor(text: &str) -> Option<(i32, usize)> {
    let (version, position) = text.split_once('.')?;
    Some((version.parse().ok()?, position.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn params(query: &str) -> Params {
        Params::of(&format!("/fhir/r4/Goal?{query}").parse().unwrap())
    }

    fn refused(result: FhirResult<Search>) -> (String, ParameterProblem) {
        match result {
            Err(FhirError::Parameter { name, problem }) => (name, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_search_names_its_person_and_bounds_its_page() {
        let person = PersonId::new();
        let search = Search::read(
            &params(&format!("patient=Patient/{person}&_count=5")),
            "Goal",
            "https://lw.example",
        )
        .unwrap();
        assert_eq!((search.person, search.count), (person, 5));
        let bundle = search.bundle(Vec::new(), Some("1.5".to_owned()), Utc::now());
        assert_eq!(
            bundle.link[1].url,
            format!(
                "https://lw.example/fhir/r4/Goal?patient=Patient%2F{person}&_count=5&_cursor=1.5"
            )
        );
        let patient = Search::read(&params(&format!("_id={person}")), "Patient", "").unwrap();
        assert_eq!(patient.count, FHIR_SEARCH.default);
    }

    #[test]
    fn parameters_out_of_the_rules_are_named() {
        let person = PersonId::new();
        let cases = [
            ("".to_owned(), "Goal", PATIENT, ParameterProblem::Missing),
            (
                format!("patient={person}&_count=0"),
                "Goal",
                COUNT,
                ParameterProblem::Invalid,
            ),
            (
                format!("patient={person}&_count=201"),
                "Goal",
                COUNT,
                ParameterProblem::Invalid,
            ),
            (
                format!("patient={person}&status=active"),
                "Goal",
                "status",
                ParameterProblem::Unknown,
            ),
            (
                format!("patient={person}&patient={person}"),
                "Goal",
                PATIENT,
                ParameterProblem::Repeated,
            ),
            (
                format!("_id={person}"),
                "Goal",
                ID,
                ParameterProblem::Unknown,
            ),
            (
                "patient=Group/1".to_owned(),
                "Goal",
                PATIENT,
                ParameterProblem::Invalid,
            ),
            ("".to_owned(), "Patient", ID, ParameterProblem::Missing),
        ];
        for (query, kind, name, problem) in cases {
            assert_eq!(
                refused(Search::read(&params(&query), kind, "")),
                (name.to_owned(), problem),
                "{query}"
            );
        }
    }

    #[test]
    fn pages_cover_every_item_once() {
        let (first, next) = page(vec![1, 2, 3], 0, 2);
        assert_eq!((first, next), (vec![1, 2], Some(2)));
        assert_eq!(page(vec![1, 2, 3], 2, 2), (vec![3], None));
        assert_eq!(read_version_cursor(&version_cursor(4, 7)), Some((4, 7)));
        assert_eq!(read_version_cursor("4"), None);
    }
}
