//! The story state machine: which status may follow which, and who may ask for it.
//!
//! The table is DESIGN.md's, with the edges the retry workflow adds (docs/api.md
//! lists them). Some edges hold only for a story in a certain state: rendering needs
//! a ready preview, and a failed story can go back to previewing only if its plan
//! exists and its preview was never made. Anything else is refused, and the refusal
//! carries the targets that *are* legal for the same actor and the same story, so a
//! client can show them.

use super::StoryStatus::{self, *};

/// Who asks for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The story's owner (or an admin acting for them).
    Owner,
    /// A queue worker reporting the outcome of a job.
    Worker,
}

/// What a story must be like for a guarded edge to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Always holds.
    None,
    /// The preview video is stored.
    PreviewReady,
    /// Planning finished and no preview is stored: the story failed while
    /// previewing, so its preview can be retried.
    PlannedWithoutPreview,
}

/// The facts about a story that guarded edges depend on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoryFacts {
    /// Planning finished (scenes exist and the estimate is stored).
    pub planned: bool,
    /// The preview video is stored.
    pub preview_ready: bool,
}

impl Guard {
    pub fn holds(self, facts: StoryFacts) -> bool {
        match self {
            Guard::None => true,
            Guard::PreviewReady => facts.preview_ready,
            Guard::PlannedWithoutPreview => facts.planned && !facts.preview_ready,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: StoryStatus,
    pub to: StoryStatus,
    pub actor: Actor,
    pub guard: Guard,
}

const fn edge(from: StoryStatus, to: StoryStatus, actor: Actor) -> Transition {
    guarded(from, to, actor, Guard::None)
}

const fn guarded(from: StoryStatus, to: StoryStatus, actor: Actor, guard: Guard) -> Transition {
    Transition {
        from,
        to,
        actor,
        guard,
    }
}

/// Every legal transition.
pub const TRANSITIONS: &[Transition] = &[
    edge(Draft, Planning, Actor::Owner),
    edge(Draft, Archived, Actor::Owner),
    edge(Planning, Planned, Actor::Worker),
    edge(Planning, Draft, Actor::Owner),
    edge(Planning, Failed, Actor::Worker),
    edge(Planned, Previewing, Actor::Owner),
    guarded(Previewing, Rendering, Actor::Owner, Guard::PreviewReady),
    edge(Previewing, Failed, Actor::Worker),
    edge(Rendering, Completed, Actor::Worker),
    edge(Rendering, Failed, Actor::Worker),
    edge(Completed, Archived, Actor::Owner),
    edge(Failed, Draft, Actor::Owner),
    // Retrying a failed preview or render re-runs what failed, keeping what succeeded.
    guarded(
        Failed,
        Previewing,
        Actor::Owner,
        Guard::PlannedWithoutPreview,
    ),
    guarded(Failed, Rendering, Actor::Owner, Guard::PreviewReady),
    edge(Archived, Draft, Actor::Owner),
];

/// A refused transition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot move a story from {from} to {to}")]
pub struct TransitionError {
    pub from: StoryStatus,
    pub to: StoryStatus,
    /// What this actor may ask for instead, from `from`.
    pub legal: Vec<StoryStatus>,
}

/// The statuses `actor` may move a story in status `from` to, given its facts.
pub fn legal_targets(from: StoryStatus, actor: Actor, facts: StoryFacts) -> Vec<StoryStatus> {
    TRANSITIONS
        .iter()
        .filter(|t| t.from == from && t.actor == actor && t.guard.holds(facts))
        .map(|t| t.to)
        .collect()
}

/// Accepts a transition that is in the table for this actor and whose guard holds
/// for the story; refuses anything else.
pub fn check_transition(
    from: StoryStatus,
    to: StoryStatus,
    actor: Actor,
    facts: StoryFacts,
) -> Result<Transition, TransitionError> {
    TRANSITIONS
        .iter()
        .copied()
        .find(|t| t.from == from && t.to == to && t.actor == actor && t.guard.holds(facts))
        .ok_or_else(|| TransitionError {
            from,
            to,
            legal: legal_targets(from, actor, facts),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: StoryFacts = StoryFacts {
        planned: false,
        preview_ready: false,
    };
    const PLANNED: StoryFacts = StoryFacts {
        planned: true,
        preview_ready: false,
    };
    const PREVIEWED: StoryFacts = StoryFacts {
        planned: true,
        preview_ready: true,
    };

    /// The table of docs/api.md, written out independently of `TRANSITIONS`.
    fn expected(from: StoryStatus, to: StoryStatus, facts: StoryFacts) -> Option<Actor> {
        use Actor::*;
        match (from, to) {
            (Draft, Planning) | (Draft, Archived) => Some(Owner),
            (Planning, Planned) | (Planning, Failed) => Some(Worker),
            (Planning, Draft) => Some(Owner),
            (Planned, Previewing) => Some(Owner),
            (Previewing, Rendering) if facts.preview_ready => Some(Owner),
            (Previewing, Failed) => Some(Worker),
            (Rendering, Completed) | (Rendering, Failed) => Some(Worker),
            (Completed, Archived) => Some(Owner),
            (Failed, Draft) | (Archived, Draft) => Some(Owner),
            (Failed, Previewing) if facts.planned && !facts.preview_ready => Some(Owner),
            (Failed, Rendering) if facts.preview_ready => Some(Owner),
            _ => None,
        }
    }

    #[test]
    fn every_pair_actor_and_story_matches_the_documented_table() {
        for facts in [FRESH, PLANNED, PREVIEWED] {
            for &from in StoryStatus::ALL {
                for &to in StoryStatus::ALL {
                    for actor in [Actor::Owner, Actor::Worker] {
                        let allowed = expected(from, to, facts) == Some(actor);
                        let result = check_transition(from, to, actor, facts);
                        assert_eq!(
                            result.is_ok(),
                            allowed,
                            "{from} -> {to} by {actor:?} ({facts:?})"
                        );
                        if let Err(err) = result {
                            assert!(!err.legal.contains(&to), "{from} -> {to}");
                            assert_eq!(err.legal, legal_targets(from, actor, facts));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn refusals_list_the_legal_targets_for_the_same_actor() {
        let err = check_transition(Draft, Completed, Actor::Owner, FRESH).unwrap_err();
        assert_eq!(err.legal, vec![Planning, Archived]);
        let err = check_transition(Planning, Planned, Actor::Owner, FRESH).unwrap_err();
        assert_eq!(err.legal, vec![Draft]);
        let err = check_transition(Completed, Draft, Actor::Owner, PREVIEWED).unwrap_err();
        assert_eq!(err.legal, vec![Archived]);
    }

    #[test]
    fn rendering_is_offered_only_once_the_preview_is_ready() {
        assert!(legal_targets(Previewing, Actor::Owner, PLANNED).is_empty());
        assert_eq!(
            legal_targets(Previewing, Actor::Owner, PREVIEWED),
            vec![Rendering]
        );
    }

    #[test]
    fn a_failed_story_retries_the_phase_it_failed_in() {
        assert_eq!(legal_targets(Failed, Actor::Owner, FRESH), vec![Draft]);
        assert_eq!(
            legal_targets(Failed, Actor::Owner, PLANNED),
            vec![Draft, Previewing]
        );
        assert_eq!(
            legal_targets(Failed, Actor::Owner, PREVIEWED),
            vec![Draft, Rendering]
        );
    }

    #[test]
    fn no_status_is_a_dead_end_for_everyone() {
        for facts in [FRESH, PLANNED, PREVIEWED] {
            for &from in StoryStatus::ALL {
                let owner = legal_targets(from, Actor::Owner, facts);
                let worker = legal_targets(from, Actor::Worker, facts);
                assert!(
                    !(owner.is_empty() && worker.is_empty()),
                    "{from} is a dead end"
                );
            }
        }
    }
}
