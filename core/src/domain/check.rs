//! Field-by-field checking of nested records, collecting every problem with its path.

use crate::domain::FieldError;
use crate::domain::FieldErrorCode;
use crate::domain::text;

/// Longest free text in one field of a plan.
pub const LONG_TEXT_MAX: usize = 4_000;
/// Longest list in a plan (goals, steps, supporters, signs…).
pub const LIST_MAX: usize = 50;

/// Walks a record and collects field errors with their full paths (`goals[2].steps[0]`).
#[derive(Debug, Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }

    pub fn push(&mut self, field: impl Into<String>, code: FieldErrorCode) {
        self.errors.push(FieldError::new(field, code));
    }

    fn record(&mut self, result: Result<(), FieldError>) {
        if let Err(error) = result {
            self.errors.push(error);
        }
    }

    /// Free text, possibly empty.
    pub fn text(&mut self, path: &str, value: &str) {
        self.record(text::check_text(path, value, LONG_TEXT_MAX));
    }

    pub fn optional_text(&mut self, path: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.text(path, value);
        }
    }

    /// Text that must not be blank.
    pub fn required_text(&mut self, path: &str, value: &str) {
        self.record(text::check_required_text(path, value, LONG_TEXT_MAX));
    }

    /// A person's or place's name.
    pub fn name(&mut self, path: &str, value: &str) {
        self.record(text::check_name(path, value));
    }

    /// A list of free-text items: bounded length, each item bounded.
    pub fn text_list(&mut self, path: &str, items: &[String]) {
        if self.list_length(path, items.len()) {
            for (index, item) in items.iter().enumerate() {
                self.required_text(&format!("{path}[{index}]"), item);
            }
        }
    }

    /// Checks a list's length; returns whether its items are worth checking.
    pub fn list_length(&mut self, path: &str, length: usize) -> bool {
        if length > LIST_MAX {
            self.push(path, FieldErrorCode::TooMany);
            return false;
        }
        true
    }
}
