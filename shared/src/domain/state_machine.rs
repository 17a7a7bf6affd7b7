//! The story state machine: which status may follow which, and who may ask for it.
//!
//! The table is DESIGN.md's, verbatim. Anything not in it is refused, and the
//! refusal carries the targets that *are* legal for the same actor, so a client can
//! show them.

use super::StoryStatus::{self, *};

/// Who asks for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The story's owner (or an admin acting for them).
    Owner,
    /// A queue worker reporting the outcome of a job.
    Worker,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: StoryStatus,
    pub to: StoryStatus,
    pub actor: Actor,
}

const fn edge(from: StoryStatus, to: StoryStatus, actor: Actor) -> Transition {
    Transition { from, to, actor }
}

/// Every legal transition.
pub const TRANSITIONS: &[Transition] = &[
    edge(Draft, Planning, Actor::Owner),
    edge(Draft, Archived, Actor::Owner),
    edge(Planning, Planned, Actor::Worker),
    edge(Planning, Draft, Actor::Owner),
    edge(Planning, Failed, Actor::Worker),
    edge(Planned, Previewing, Actor::Owner),
    edge(Previewing, Rendering, Actor::Owner),
    edge(Previewing, Failed, Actor::Worker),
    edge(Rendering, Completed, Actor::Worker),
    edge(Rendering, Failed, Actor::Worker),
    edge(Completed, Archived, Actor::Owner),
    edge(Failed, Draft, Actor::Owner),
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

/// The statuses `actor` may move a story to from `from`.
pub fn legal_targets(from: StoryStatus, actor: Actor) -> Vec<StoryStatus> {
    TRANSITIONS
        .iter()
        .filter(|t| t.from == from && t.actor == actor)
        .map(|t| t.to)
        .collect()
}

/// Accepts a transition that is in the table for this actor, refuses anything else.
pub fn check_transition(
    from: StoryStatus,
    to: StoryStatus,
    actor: Actor,
) -> Result<Transition, TransitionError> {
    TRANSITIONS
        .iter()
        .copied()
        .find(|t| t.from == from && t.to == to && t.actor == actor)
        .ok_or_else(|| TransitionError {
            from,
            to,
            legal: legal_targets(from, actor),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of DESIGN.md, written out independently of `TRANSITIONS`.
    fn expected(from: StoryStatus, to: StoryStatus) -> Option<Actor> {
        use Actor::*;
        match (from, to) {
            (Draft, Planning) | (Draft, Archived) => Some(Owner),
            (Planning, Planned) | (Planning, Failed) => Some(Worker),
            (Planning, Draft) => Some(Owner),
            (Planned, Previewing) => Some(Owner),
            (Previewing, Rendering) => Some(Owner),
            (Previewing, Failed) => Some(Worker),
            (Rendering, Completed) | (Rendering, Failed) => Some(Worker),
            (Completed, Archived) => Some(Owner),
            (Failed, Draft) | (Archived, Draft) => Some(Owner),
            _ => None,
        }
    }

    #[test]
    fn every_pair_and_actor_matches_the_design_table() {
        for &from in StoryStatus::ALL {
            for &to in StoryStatus::ALL {
                for actor in [Actor::Owner, Actor::Worker] {
                    let allowed = expected(from, to) == Some(actor);
                    let result = check_transition(from, to, actor);
                    assert_eq!(result.is_ok(), allowed, "{from} -> {to} by {actor:?}");
                    if let Err(err) = result {
                        assert!(!err.legal.contains(&to), "{from} -> {to}");
                        assert_eq!(err.legal, legal_targets(from, actor));
                    }
                }
            }
        }
    }

    #[test]
    fn refusals_list_the_legal_targets_for_the_same_actor() {
        let err = check_transition(Draft, Completed, Actor::Owner).unwrap_err();
        assert_eq!(err.legal, vec![Planning, Archived]);
        let err = check_transition(Planning, Planned, Actor::Owner).unwrap_err();
        assert_eq!(err.legal, vec![Draft]);
        let err = check_transition(Completed, Draft, Actor::Owner).unwrap_err();
        assert_eq!(err.legal, vec![Archived]);
    }

    #[test]
    fn no_status_is_a_dead_end_for_everyone() {
        for &from in StoryStatus::ALL {
            let owner = legal_targets(from, Actor::Owner);
            let worker = legal_targets(from, Actor::Worker);
            assert!(
                !(owner.is_empty() && worker.is_empty()),
                "{from} is a dead end"
            );
        }
    }
}
