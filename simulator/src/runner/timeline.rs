//! The seeded workload timeline: alerts, votes, churn, partitions and
//! adversarial frames, at milliseconds after the workload starts.

use super::*;

/// One timeline action, at ms after the workload starts.
#[derive(Debug, Clone)]
pub(super) enum Action {
    /// Honest alert `seq` by `poster`, published on `origin`.
    Alert { seq: usize, poster: usize, origin: usize },
    /// Hide vote by `moderator` on honest alert `seq`, published on `origin`.
    Vote { seq: usize, moderator: usize, origin: usize },
    /// An adversarial frame.
    Adversary { node: usize, n: u64 },
    /// Take a node offline.
    Down(usize),
    /// Bring it back.
    Up(usize),
    /// Start a partition.
    PartitionStart(Vec<u8>),
    /// Heal it.
    PartitionHeal,
}

/// Builds the seeded timeline (ms after the workload starts).
pub(super) fn timeline(s: &Scenario, roles: &[Option<AdversaryKind>]) -> Vec<(f64, Action)> {
    let mut rng = SimRng::derive(s.seed, "timeline", 0);
    let honest: Vec<usize> = (0..s.nodes).filter(|&i| roles[i].is_none()).collect();
    let duration_ms = s.timing.duration_secs as f64 * 1000.0;
    let mut plan: Vec<(f64, Action)> = Vec::new();

    // Churn first, so publishers can avoid nodes that are down.
    let mut down: Vec<(usize, f64, f64)> = Vec::new();
    let churners = (honest.len() as f64 * s.faults.churn_fraction).round() as usize;
    let mut pool = honest.clone();
    rng.shuffle(&mut pool);
    for &i in pool.iter().take(churners) {
        let [lo, hi] = s.faults.churn_down_secs;
        let len = rng.range_u64(lo, hi) as f64 * 1000.0;
        let start = rng.range_f64(0.0, (duration_ms - len).max(0.0));
        down.push((i, start, start + len));
        plan.push((start, Action::Down(i)));
        plan.push((start + len, Action::Up(i)));
    }
    let is_up = |i: usize, t: f64, down: &[(usize, f64, f64)]| !down.iter().any(|&(n, a, b)| n == i && a <= t && t < b);
    let pick_origin = |t: f64, rng: &mut SimRng| loop {
        let i = honest[rng.below(honest.len())];
        if is_up(i, t, &down) {
            break i;
        }
    };

    let alerts = s.honest_alerts();
    let interval = if s.workload.alerts_per_sec > 0.0 { 1000.0 / s.workload.alerts_per_sec } else { 0.0 };
    for seq in 0..alerts {
        let t = seq as f64 * interval + rng.range_f64(0.0, interval * 0.5);
        let origin = pick_origin(t, &mut rng);
        plan.push((t, Action::Alert { seq, poster: seq % s.workload.posters, origin }));
        if rng.chance(s.moderation.hide_fraction) {
            for moderator in 0..s.moderation.quorum as usize {
                let [lo, hi] = s.moderation.vote_delay_ms;
                let tv = t + rng.range_u64(lo, hi) as f64;
                let origin = pick_origin(tv, &mut rng);
                plan.push((tv, Action::Vote { seq, moderator, origin }));
            }
        }
    }

    for p in &s.faults.partitions {
        let mut sides = vec![0u8; s.nodes];
        let mut all: Vec<usize> = (0..s.nodes).collect();
        rng.shuffle(&mut all);
        for &i in all.iter().take((s.nodes as f64 * p.fraction).round() as usize) {
            sides[i] = 1;
        }
        plan.push((p.start_secs * 1000.0, Action::PartitionStart(sides)));
        plan.push((p.heal_secs * 1000.0, Action::PartitionHeal));
    }

    if s.adversaries.frames_per_sec > 0.0 {
        let gap = 1000.0 / s.adversaries.frames_per_sec;
        for (node, role) in roles.iter().enumerate() {
            if role.is_none() {
                continue;
            }
            let mut t = rng.range_f64(0.0, gap);
            let mut n = 0;
            while t < duration_ms {
                plan.push((t, Action::Adversary { node, n }));
                n += 1;
                t += gap;
            }
        }
    }
    plan.sort_by(|a, b| a.0.total_cmp(&b.0));
    plan
}
