//! Collecting field errors, so a client learns about every bad field at once.

use ai_video_shared::domain::Invalid;

use crate::error::ApiError;

#[derive(Default)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    /// Keeps the value, or records why it was refused.
    pub fn check<T>(&mut self, field: &str, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, sentence(&e.0));
                None
            }
        }
    }

    /// A string of at most `max` characters; `required` also refuses a blank one.
    pub fn text(&mut self, field: &str, value: &str, max: usize, required: bool) {
        if required && value.trim().is_empty() {
            self.add(field, "This field may not be blank.");
        }
        let n = value.chars().count();
        if n > max {
            self.add(
                field,
                format!("Ensure this field has no more than {max} characters (it has {n})."),
            );
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.add(field, "Control characters are not allowed.");
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::fields(self.0))
        }
    }
}

/// "must be at least 1 second" → "Must be at least 1 second."
pub fn sentence(s: &str) -> String {
    let mut c = s.chars();
    let Some(first) = c.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(c).collect();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
