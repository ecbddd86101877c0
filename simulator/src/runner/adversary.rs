//! Adversarial nodes: their gossipsub loops and the frames they send.

use super::*;

/// Frames queued for one adversarial node's gossipsub.
pub(super) const ADVERSARY_QUEUE: usize = 64;

/// Runs the adversary's swarm: publishes what it is handed, drops the rest.
pub(super) async fn adversary_loop(
    mut swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    mut frames: mpsc::Receiver<Vec<u8>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            f = frames.recv() => match f {
                Some(bytes) => {
                    let _ = swarm.behaviour_mut().gossipsub.publish(topic.clone(), bytes);
                }
                None => break,
            },
            _ev = swarm.select_next_some() => {}
        }
    }
}

pub(super) struct Frame {
    pub(super) bytes: Vec<u8>,
    pub(super) author: Option<[u8; 32]>,
    pub(super) honest_replay: bool,
    pub(super) targets: Option<MsgKey>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn adversarial_frame(
    s: &Scenario,
    hood: &SimHood,
    kind: AdversaryKind,
    member: usize,
    n: u64,
    now: u64,
    rng: &mut SimRng,
    honest: &[(MsgKey, Vec<u8>, usize)],
) -> Option<Frame> {
    let member_key = hood.bad_members.get(member)?;
    let label = format!("Notice {member}-{n}");
    let plain = |bytes: Vec<u8>| Frame { bytes, author: None, honest_replay: false, targets: None };
    Some(match kind {
        AdversaryKind::OverQuota => {
            let env = hood::seal_alert(hood.alert(s, rng, now, &label), member_key);
            Frame { author: Some(*member_key.public().as_bytes()), ..plain(env.to_bytes()) }
        }
        AdversaryKind::NonMember => {
            let outsider = seeded_key(&format!("outsider-{member}"));
            plain(hood::seal_alert(hood.alert(s, rng, now, &label), &outsider).to_bytes())
        }
        AdversaryKind::BadSignature => {
            plain(hood::corrupt_signature(&hood::seal_alert(hood.alert(s, rng, now, &label), member_key)))
        }
        AdversaryKind::NonCanonical => {
            plain(hood::non_canonical(&hood::seal_alert(hood.alert(s, rng, now, &label), member_key)))
        }
        AdversaryKind::ForgedVote => {
            // Target an honest alert (if any yet) that moderators did not vote on.
            let (target, _, _) = honest.get(rng.below(honest.len().max(1)))?;
            let id = MessageId::from_slice(target).ok()?;
            let vote = hood.fixture.vote(member_key, id, Decision::Hide, now);
            let bytes = if n.is_multiple_of(2) {
                // A member who is not a moderator.
                vote.to_bytes()
            } else {
                // Claims a moderator's key, signed with another.
                hood::forged_signer(&vote, &hood.fixture.founders[0])
            };
            Frame { targets: Some(*target), ..plain(bytes) }
        }
        AdversaryKind::Replay => {
            if n.is_multiple_of(2) && !honest.is_empty() {
                let (_, bytes, _) = &honest[rng.below(honest.len())];
                Frame { honest_replay: true, ..plain(bytes.clone()) }
            } else {
                // An old alert by a real poster, long expired.
                let old = now.saturating_sub(3 * 86_400 + n * 60);
                let poster = &hood.posters[member % hood.posters.len()];
                plain(hood::seal_alert(hood.alert(s, rng, old, &label), poster).to_bytes())
            }
        }
        AdversaryKind::Malformed => {
            let len = rng.range_u64(16, 600) as usize;
            plain((0..len).map(|_| rng.next_u64() as u8).collect())
        }
        AdversaryKind::Oversized => {
            let len = MAX_ENVELOPE_BYTES + 4096;
            plain((0..len).map(|_| rng.next_u64() as u8).collect())
        }
    })
}
