//! The live feed (`GET /v1/events`): one event per accepted message and per
//! alert state change, whatever the message's origin.

use serde::Serialize;

use crate::core::ledger::AlertState;

/// Live events buffered for slow SSE subscribers; a subscriber that falls
/// further behind skips ahead (and is told how many it missed).
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;

/// One entry of the live feed (`GET /v1/events`).
#[derive(Debug, Clone, Serialize)]
pub struct FeedEvent {
    /// `message` (a new message was accepted) or `state` (an alert changed state).
    pub event: &'static str,
    /// Message kind for `message`; `alert` for `state`.
    pub kind: &'static str,
    /// Message id (hex).
    pub id: String,
    /// The alert it concerns (hex), for votes, reports, reactions, updates and state changes.
    pub alert: Option<String>,
    /// New state, for `state` events and new alerts.
    pub state: Option<AlertState>,
}
