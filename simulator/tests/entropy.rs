//! The seeded stream reaches getrandom's callers. A test binary of its own:
//! other tests running alongside would draw from the same global stream.

#![allow(clippy::unwrap_used)]

#[test]
fn getrandom_reads_the_seeded_stream() {
    stoop_sim::entropy::reseed(7);
    let mut a = [0u8; 32];
    getrandom::fill(&mut a).unwrap();
    stoop_sim::entropy::reseed(7);
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).unwrap();
    assert_eq!(a, b, "getrandom 0.3 reads the seeded stream");
    stoop_sim::entropy::reseed(8);
    let mut c = [0u8; 32];
    getrandom::fill(&mut c).unwrap();
    assert_ne!(a, c, "and another seed gives other bytes");
}
