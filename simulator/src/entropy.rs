//! Seeded entropy for the whole simulator process, so a run is repeatable.
//!
//! std (HashMap keys), getrandom 0.3 and 0.4 (rand, snow, stoop's own ids)
//! look libc's `getrandom` up with `dlsym(RTLD_DEFAULT, ..)`; `build.rs`
//! exports the definition below from every binary of this package, so they
//! find it instead. Its bytes come from a SplitMix64 stream: the same
//! constant at process start, then [`reseed`] with the run's seed. Nothing
//! here is secret or secure, which is the point: this package is a
//! simulator and is never shipped (`stoopd` is built without it).
//!
//! Limits: std draws HashMap keys once per thread, so two runs in one
//! process differ; run the binary twice to compare (as the determinism
//! test does). getrandom 0.2 (ring's) calls the syscall directly and stays
//! random; only Noise ciphertexts depend on it, never a length or a count.

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};

/// The stream's position; SplitMix64 steps it by a fixed odd constant.
static STATE: AtomicU64 = AtomicU64::new(0x5370_6f6f_7053_696d);

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

fn next_u64() -> u64 {
    let mut z = STATE.fetch_add(GOLDEN, Ordering::Relaxed).wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Restarts the stream from `seed` (at the start of a run).
pub fn reseed(seed: u64) {
    STATE.store(seed ^ 0x5370_6f6f_7053_696d, Ordering::Relaxed);
}

/// Fills `buf` from the stream.
pub fn fill(buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let bytes = next_u64().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// libc's `getrandom(2)` wrapper, answered from the seeded stream.
///
/// # Safety
/// `buf` must be valid for `len` bytes of writes, as for libc's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getrandom(buf: *mut u8, len: usize, _flags: u32) -> isize {
    if buf.is_null() || len == 0 {
        return 0;
    }
    // SAFETY: the caller passes a buffer valid for `len` bytes (getrandom(2)).
    let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    fill(out);
    isize::try_from(len).unwrap_or(isize::MAX)
}
