//! What can go wrong, and the exit code each failure leaves behind.
//!
//! | code | failure |
//! | --- | --- |
//! | 0 | success |
//! | 1 | anything else: a file that cannot be written, a wait that ended without reaching its goal (a cancelled job) |
//! | 2 | the request was refused: bad flags, a 4xx answer (no such story, a validation error, a refused transition) |
//! | 3 | the API is broken or gone: a 5xx answer, a refused connection, a timeout |
//! | 4 | the story failed: `--wait` saw it fail, or `status` found it failed |
//!
//! API errors are problem+json: the `detail` is printed, then each field error.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde::Deserialize;
use serde_json::Value;

/// A problem+json body, as far as the client reads it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Problem {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    /// `{field: [messages]}`.
    #[serde(default)]
    pub errors: BTreeMap<String, Vec<String>>,
    /// The moves a refused transition could make instead.
    #[serde(default)]
    pub legal_targets: Vec<String>,
}

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line asked for something that cannot be sent.
    #[error("{0}")]
    Usage(String),
    /// The API answered with an error status.
    #[error("{}", describe(*.status, .problem))]
    Api { status: u16, problem: Problem },
    /// The API could not be reached, or did not answer in time.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The story ended in `failed`.
    #[error("story {id} failed: {}", .error.as_deref().unwrap_or("no reason given"))]
    StoryFailed { id: String, error: Option<String> },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

fn describe(status: u16, problem: &Problem) -> String {
    let text = problem
        .detail
        .as_deref()
        .or(problem.title.as_deref())
        .unwrap_or("the API refused the request");
    match &problem.code {
        Some(code) => format!("{text} ({status} {code})"),
        None => format!("{text} ({status})"),
    }
}

impl CliError {
    /// The process exit code for this failure (see the module table).
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }

    fn code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Api { status, .. } if *status >= 500 => 3,
            CliError::Api { .. } => 2,
            CliError::Unreachable { .. } => 3,
            CliError::StoryFailed { .. } => 4,
            CliError::Other(_) => 1,
        }
    }

    /// The error from an answer's status and body (problem+json or anything else).
    pub fn from_answer(status: u16, body: &[u8]) -> Self {
        let problem = serde_json::from_slice::<Value>(body)
            .ok()
            .filter(Value::is_object)
            .and_then(|v| serde_json::from_value::<Problem>(v).ok())
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                Problem {
                    detail: (!text.is_empty()).then(|| text.chars().take(200).collect()),
                    ..Problem::default()
                }
            });
        CliError::Api { status, problem }
    }

    /// Everything to print on stderr: the message, then one line per field error
    /// and a hint where one helps.
    pub fn report(&self) -> String {
        let mut out = format!("error: {self}");
        if let CliError::Api { status, problem } = self {
            for (field, messages) in &problem.errors {
                for m in messages {
                    out.push_str(&format!("\n  {field}: {m}"));
                }
            }
            if !problem.legal_targets.is_empty() {
                out.push_str(&format!(
                    "\n  possible moves from here: {}",
                    problem.legal_targets.join(", ")
                ));
            }
            if *status == 401 {
                out.push_str(
                    "\n  hint: set AI_VIDEO_TOKEN, pass --token, or run `ai-video login --token …`",
                );
            }
        }
        if let CliError::Other(e) = self {
            for cause in e.chain().skip(1) {
                out.push_str(&format!("\n  caused by: {cause}"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: &CliError) -> u8 {
        e.code()
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let api = |status| CliError::from_answer(status, b"{}");
        assert_eq!(code(&api(404)), 2);
        assert_eq!(code(&api(422)), 2);
        assert_eq!(code(&api(500)), 3);
        assert_eq!(code(&api(503)), 3);
        let failed = CliError::StoryFailed {
            id: "x".into(),
            error: None,
        };
        assert_eq!(code(&failed), 4);
    }

    #[test]
    fn a_problem_prints_its_detail_and_fields() {
        let body = br#"{"type":"urn:ai-video:problem:validation_error","title":"Unprocessable Entity",
            "status":422,"code":"validation_error","detail":"duration_seconds: Must be at least 1 second.",
            "errors":{"duration_seconds":["Must be at least 1 second."],"title":["Blank."]}}"#;
        let report = CliError::from_answer(422, body).report();
        assert_eq!(
            report,
            "error: duration_seconds: Must be at least 1 second. (422 validation_error)\n  \
             duration_seconds: Must be at least 1 second.\n  title: Blank."
        );
    }

    #[test]
    fn a_body_that_is_not_a_problem_is_shown_as_text() {
        let report = CliError::from_answer(502, b"<html>Bad Gateway</html>").report();
        assert_eq!(report, "error: <html>Bad Gateway</html> (502)");
    }
}
