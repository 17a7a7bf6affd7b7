//! The closed list of problem codes: every error the API answers carries one, and
//! docs/api.md lists the same set (a test compares them).

use super::string_enum;

/// A stable machine code of a refused or failed request, `urn:ai-video:problem:<code>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    // The request itself.
    ValidationError,
    InvalidInput,
    MalformedJson,
    UnreadableBody,
    UnsupportedMediaType,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    // Who asks.
    NotAuthenticated,
    TokenNotValid,
    PermissionDenied,
    InvalidSignature,
    // Limits.
    Throttled,
    BudgetExceeded,
    QuotaExceeded,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    MediaLinkExpired,
    MediaLinkInvalid,
    TicketExpired,
    TicketInvalid,
    // The state of the story and its jobs.
    InvalidTransition,
    InvalidStoryStatus,
    VersionConflict,
    NoScenes,
    TooManyScenes,
    TooMuchVideo,
    PositionTaken,
    PositionOutOfRange,
    SceneNotInStory,
    SceneRepeated,
    PreviewNotReady,
    JobInProgress,
    JobNotActive,
    JobNotRetryable,
    // The service.
    Unavailable,
    InternalError,
}

string_enum!(ErrorCode {
    ValidationError => "validation_error",
    InvalidInput => "invalid_input",
    MalformedJson => "malformed_json",
    UnreadableBody => "unreadable_body",
    UnsupportedMediaType => "unsupported_media_type",
    PayloadTooLarge => "payload_too_large",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    NotAuthenticated => "not_authenticated",
    TokenNotValid => "token_not_valid",
    PermissionDenied => "permission_denied",
    InvalidSignature => "invalid_signature",
    Throttled => "throttled",
    BudgetExceeded => "budget_exceeded",
    QuotaExceeded => "quota_exceeded",
    IdempotencyKeyInProgress => "idempotency_key_in_progress",
    IdempotencyKeyReused => "idempotency_key_reused",
    MediaLinkExpired => "media_link_expired",
    MediaLinkInvalid => "media_link_invalid",
    TicketExpired => "ticket_expired",
    TicketInvalid => "ticket_invalid",
    InvalidTransition => "invalid_transition",
    InvalidStoryStatus => "invalid_story_status",
    VersionConflict => "version_conflict",
    NoScenes => "no_scenes",
    TooManyScenes => "too_many_scenes",
    TooMuchVideo => "too_much_video",
    PositionTaken => "position_taken",
    PositionOutOfRange => "position_out_of_range",
    SceneNotInStory => "scene_not_in_story",
    SceneRepeated => "scene_repeated",
    PreviewNotReady => "preview_not_ready",
    JobInProgress => "job_in_progress",
    JobNotActive => "job_not_active",
    JobNotRetryable => "job_not_retryable",
    Unavailable => "unavailable",
    InternalError => "internal_error",
});

impl ErrorCode {
    /// The problem type URI.
    pub fn uri(self) -> String {
        format!("urn:ai-video:problem:{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes in docs/api.md's table of errors.
    fn documented() -> std::collections::BTreeSet<String> {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/api.md"))
            .expect("docs/api.md");
        let table = doc
            .split("| status | code | when |")
            .nth(1)
            .expect("the table of errors");
        table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .flat_map(|l| {
                let cell = l.split('|').nth(2).unwrap_or_default().to_string();
                cell.split(',')
                    .map(|c| c.trim().trim_matches('`').to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn docs_api_lists_every_code_and_no_other() {
        let codes: std::collections::BTreeSet<String> =
            ErrorCode::ALL.iter().map(|c| c.to_string()).collect();
        assert_eq!(documented(), codes);
    }
}
