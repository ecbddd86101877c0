//! JSON views of alerts, the review queue and the moderation log, built
//! from the ledger (state, counts) and the store (text).

use serde::Serialize;
use serde_json::{Value, json};

use crate::core::ids::MessageId;
use crate::core::ledger::{AlertMeta, AlertState};
use crate::core::message::{MsgType, Payload, ReactionKind};
use crate::core::moderation::AuditEntry;
use crate::replica::Replica;

/// One alert as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    /// Id (hex).
    pub id: String,
    /// Author key (hex).
    pub author: String,
    /// Category.
    pub category: String,
    /// Event type.
    pub event: String,
    /// Headline.
    pub headline: String,
    /// Description.
    pub description: String,
    /// Instruction.
    pub instruction: String,
    /// CAP urgency.
    pub urgency: &'static str,
    /// CAP severity.
    pub severity: &'static str,
    /// CAP certainty.
    pub certainty: &'static str,
    /// CAP status.
    pub status: &'static str,
    /// alert, update or cancel.
    pub msg_type: &'static str,
    /// Original alert for updates and cancels.
    pub references: Option<String>,
    /// Geohash cell.
    pub area: String,
    /// Signed time.
    pub sent: u64,
    /// Expiry.
    pub expires: u64,
    /// visible, hidden, cancelled or withdrawn.
    pub state: AlertState,
    /// Members who saw it too.
    pub seen_too: usize,
    /// Members who marked it resolved.
    pub resolved: usize,
    /// Reports received.
    pub reports: usize,
    /// Update ids, oldest first.
    pub updates: Vec<String>,
}

/// An alert with its updates, votes and reports.
#[derive(Debug, Clone, Serialize)]
pub struct AlertDetail {
    /// The alert.
    pub alert: AlertView,
    /// Its updates and cancels.
    pub updates: Vec<AlertView>,
    /// Every vote with its effect.
    pub votes: Vec<AuditEntry>,
    /// Reports (reporter, reason, time).
    pub reports: Vec<Value>,
}

fn view(replica: &Replica, meta: &AlertMeta) -> Option<AlertView> {
    let env = replica.store().envelope(&meta.id).ok().flatten()?;
    let Ok(Payload::Alert(a)) = Payload::decode(&env) else { return None };
    let count = |k| meta.reactions.get(&k).map_or(0, |s| s.len());
    Some(AlertView {
        id: meta.id.to_hex(),
        author: meta.author.to_hex(),
        category: a.category,
        event: a.event,
        headline: a.headline,
        description: a.description,
        instruction: a.instruction,
        urgency: a.urgency.name(),
        severity: a.severity.name(),
        certainty: a.certainty.name(),
        status: a.status.name(),
        msg_type: a.msg_type.name(),
        references: a.references.map(|r| r.to_hex()),
        area: a.area,
        sent: a.sent,
        expires: a.expires,
        state: replica.ledger().state(&meta.id).unwrap_or(AlertState::Visible),
        seen_too: count(ReactionKind::SeenToo),
        resolved: count(ReactionKind::Resolved),
        reports: meta.reports.len(),
        updates: meta.updates.iter().map(MessageId::to_hex).collect(),
    })
}

/// Original alerts, newest first, filtered.
pub fn list(
    replica: &Replica,
    since: u64,
    category: Option<&str>,
    state: Option<AlertState>,
    include_hidden: bool,
    limit: usize,
) -> Vec<AlertView> {
    let ledger = replica.ledger();
    let mut metas: Vec<&AlertMeta> = ledger
        .alerts()
        .filter(|m| m.msg_type == MsgType::Alert && m.sent >= since)
        .filter(|m| category.is_none_or(|c| m.category == c))
        .filter(|m| {
            let s = ledger.state(&m.id).unwrap_or(AlertState::Visible);
            match state {
                Some(wanted) => s == wanted,
                None => include_hidden || matches!(s, AlertState::Visible | AlertState::Cancelled),
            }
        })
        .collect();
    metas.sort_by(|a, b| b.sent.cmp(&a.sent).then(a.id.cmp(&b.id)));
    metas.into_iter().take(limit).filter_map(|m| view(replica, m)).collect()
}

/// One alert with everything about it.
pub fn detail(replica: &Replica, id: &MessageId) -> Option<AlertDetail> {
    let ledger = replica.ledger();
    let meta = ledger.alert(id)?;
    let mut updates: Vec<AlertView> = meta
        .updates
        .iter()
        .chain(meta.cancelled_by.iter())
        .filter_map(|u| ledger.alert(u))
        .filter_map(|m| view(replica, m))
        .collect();
    updates.sort_by_key(|u| u.sent);
    Some(AlertDetail {
        alert: view(replica, meta)?,
        updates,
        votes: ledger.audit(id),
        reports: meta
            .reports
            .iter()
            .map(|r| json!({ "id": r.id.to_hex(), "reporter": r.reporter.to_hex(), "reason": r.reason.name(), "sent": r.sent }))
            .collect(),
    })
}

/// Reported, still-visible alerts, most reported first.
pub fn queue(replica: &Replica) -> Vec<Value> {
    replica
        .ledger()
        .review_queue()
        .into_iter()
        .filter_map(|m| {
            let v = view(replica, m)?;
            let reasons: Vec<&str> = m.reports.iter().map(|r| r.reason.name()).collect();
            Some(json!({ "alert": v, "reasons": reasons, "votes": replica.ledger().audit(&m.id) }))
        })
        .collect()
}

/// The whole public moderation trail: every vote with its effect, roster
/// changes and revocations.
pub fn moderation_log(replica: &Replica) -> Value {
    let ledger = replica.ledger();
    let mut votes: Vec<Value> = Vec::new();
    for m in ledger.alerts().filter(|m| !m.votes.is_empty()) {
        for entry in ledger.audit(&m.id) {
            let mut v = serde_json::to_value(&entry).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut v {
                map.insert("alert".into(), json!(m.id.to_hex()));
            }
            votes.push(v);
        }
    }
    votes.sort_by_key(|v| (v["sent"].as_u64().unwrap_or(0), v["vote"].as_str().unwrap_or("").to_owned()));
    let membership = ledger.membership();
    let revocations: Vec<Value> = membership
        .members()
        .into_iter()
        .filter_map(|(k, _)| {
            let sigs = membership.revocation_signatures(&k);
            (!sigs.is_empty()).then(|| {
                json!({
                    "member": k.to_hex(),
                    "revoked_at": membership.revoked_at(&k),
                    "signatures": sigs.iter().map(|(m, t)| json!({ "moderator": m.to_hex(), "sent": t })).collect::<Vec<_>>(),
                })
            })
        })
        .collect();
    json!({
        "votes": votes,
        "roster_changes": ledger.roster_book().history(),
        "revocations": revocations,
    })
}
