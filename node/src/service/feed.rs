//! The live feed (`GET /v1/events`): one event per accepted message and per
//! alert state change, whatever the message's origin.

use serde::{Serialize, Serializer};

use crate::core::envelope::Kind;
use crate::core::ledger::{Accepted, AlertState, StateChange};
use crate::core::message::Payload;

/// Live events buffered for slow SSE subscribers; a subscriber that falls
/// further behind skips ahead (and is told how many it missed).
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;

/// What a feed event announces (the SSE event name and the JSON `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    /// A new message was accepted.
    Message,
    /// An alert changed state.
    State,
}

impl FeedKind {
    /// The SSE event name.
    pub fn name(self) -> &'static str {
        match self {
            FeedKind::Message => "message",
            FeedKind::State => "state",
        }
    }
}

fn kind_name<S: Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.name())
}

/// One entry of the live feed (`GET /v1/events`).
#[derive(Debug, Clone, Serialize)]
pub struct FeedEvent {
    /// A new message, or an alert's state change.
    pub event: FeedKind,
    /// Message kind for `message`; `alert` for `state`.
    #[serde(serialize_with = "kind_name")]
    pub kind: Kind,
    /// Message id (hex).
    pub id: String,
    /// The alert it concerns (hex), for votes, reports, reactions, updates and state changes.
    pub alert: Option<String>,
    /// New state, for `state` events and new alerts.
    pub state: Option<AlertState>,
}

impl FeedEvent {
    /// A message was accepted (new alerts start visible).
    pub fn message(a: &Accepted) -> Self {
        Self {
            event: FeedKind::Message,
            kind: a.envelope.kind(),
            id: a.envelope.id().to_hex(),
            alert: crate::store::reference_of(&a.payload).map(|r| r.to_hex()),
            state: matches!(a.payload, Payload::Alert(_)).then_some(AlertState::Visible),
        }
    }

    /// An alert changed state.
    pub fn state(change: &StateChange) -> Self {
        Self {
            event: FeedKind::State,
            kind: Kind::Alert,
            id: change.alert.to_hex(),
            alert: Some(change.alert.to_hex()),
            state: Some(change.to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::MessageId;

    /// The JSON clients read on `/v1/events` (README), field for field.
    #[test]
    fn events_serialize_to_the_documented_json() -> Result<(), Box<dyn std::error::Error>> {
        let id = MessageId::from_hex(&"ab".repeat(32))?;
        let change = StateChange { alert: id, sent: 1, from: AlertState::Visible, to: AlertState::Hidden };
        let hex = "ab".repeat(32);
        assert_eq!(
            serde_json::to_string(&FeedEvent::state(&change))?,
            format!(r#"{{"event":"state","kind":"alert","id":"{hex}","alert":"{hex}","state":"hidden"}}"#)
        );
        let vote = FeedEvent { event: FeedKind::Message, kind: Kind::Vote, id: hex.clone(), alert: None, state: None };
        assert_eq!(
            serde_json::to_string(&vote)?,
            format!(r#"{{"event":"message","kind":"vote","id":"{hex}","alert":null,"state":null}}"#)
        );
        assert_eq!(FeedKind::State.name(), "state");
        Ok(())
    }
}
