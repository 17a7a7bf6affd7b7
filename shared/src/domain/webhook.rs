//! What a webhook attempt's answer means: delivered, retried later (on the Standard
//! Webhooks schedule, with jitter, or when the receiver's `Retry-After` says), given
//! up, or the endpoint gone for good (`410 Gone`).

use std::time::Duration;

use super::Invalid;

/// The specification's retry schedule after the first attempt: 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h.
pub const DEFAULT_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The receiver answered with this status code (and maybe `Retry-After`).
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: refused by the outbound guard, a connection error or a timeout.
    NoAnswer,
}

/// What happens to the delivery next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// No attempt is left.
    GiveUp,
    /// The receiver said `410 Gone`: the endpoint is disabled.
    Gone,
}

/// Decides after attempt number `attempt` (1 for the first) with `schedule` the
/// delays between attempts; `jitter` in [0, 1) spreads retries by up to ±10 %.
pub fn verdict(answer: &Answer, attempt: u32, schedule: &[Duration], jitter: f64) -> Verdict {
    let retry_after = match answer {
        Answer::Status { code, .. } if (200..300).contains(code) => return Verdict::Delivered,
        Answer::Status { code: 410, .. } => return Verdict::Gone,
        Answer::Status { retry_after, .. } => *retry_after,
        Answer::NoAnswer => None,
    };
    let Some(delay) = schedule.get(attempt.saturating_sub(1) as usize) else {
        return Verdict::GiveUp;
    };
    let spread = delay.mul_f64(0.9 + 0.2 * jitter.clamp(0.0, 1.0));
    let wait = match retry_after {
        Some(asked) => asked.min(MAX_RETRY_AFTER).max(spread),
        None => spread,
    };
    Verdict::Retry(wait)
}

/// Parses a delay: a number and `ms`, `s`, `m`, `h` or `d`.
pub fn parse_delay(text: &str) -> Result<Duration, Invalid> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| Invalid(format!("\"{text}\" has no unit (ms, s, m, h or d)")))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| Invalid(format!("\"{text}\" does not start with a number")))?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => return Err(Invalid(format!("\"{unit}\" is not ms, s, m, h or d"))),
    };
    Ok(Duration::from_millis(ms))
}

/// Parses a comma-separated schedule (at most 16 retries, each at most a day).
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, Invalid> {
    let delays = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(parse_delay)
        .collect::<Result<Vec<_>, _>>()?;
    if delays.len() > 16 {
        return Err(Invalid("at most 16 retries".into()));
    }
    if delays.iter().any(|d| *d > Duration::from_secs(86_400)) {
        return Err(Invalid("a retry waits at most a day (24h)".into()));
    }
    Ok(delays)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Vec<Duration> {
        parse_schedule(DEFAULT_SCHEDULE).unwrap()
    }

    fn status(code: u16) -> Answer {
        Answer::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn the_default_schedule_is_the_specifications() {
        let s = schedule();
        assert_eq!(s.len(), 7);
        assert_eq!(s[0], Duration::from_secs(5));
        assert_eq!(s[3], Duration::from_secs(7200));
    }

    #[test]
    fn answers_decide_the_next_step() {
        let s = schedule();
        assert_eq!(verdict(&status(204), 1, &s, 0.5), Verdict::Delivered);
        assert_eq!(verdict(&status(410), 1, &s, 0.5), Verdict::Gone);
        assert_eq!(
            verdict(&status(500), 1, &s, 0.5),
            Verdict::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            verdict(&Answer::NoAnswer, 2, &s, 0.0),
            Verdict::Retry(Duration::from_secs(270))
        );
        assert_eq!(verdict(&status(500), 8, &s, 0.5), Verdict::GiveUp);
        assert_eq!(verdict(&status(404), 8, &s, 0.5), Verdict::GiveUp);
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let s = schedule();
        let asked = |secs| Answer::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            verdict(&asked(60), 1, &s, 0.5),
            Verdict::Retry(Duration::from_secs(60))
        );
        assert_eq!(
            verdict(&asked(1), 1, &s, 0.5),
            Verdict::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            verdict(&asked(999_999), 1, &s, 0.5),
            Verdict::Retry(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn delays_parse() {
        assert_eq!(parse_delay("150ms").unwrap(), Duration::from_millis(150));
        assert_eq!(parse_delay("5d").unwrap(), Duration::from_secs(432_000));
        assert!(parse_delay("5").is_err());
        assert!(parse_delay("5w").is_err());
        assert!(parse_schedule("1s,48h").is_err());
        assert_eq!(parse_schedule("").unwrap(), Vec::<Duration>::new());
    }
}
