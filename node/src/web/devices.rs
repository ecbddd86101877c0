//! Paired browsers: one-time pairing codes, device sessions, and the limit
//! on pairing attempts. Pure state: time comes in as `now` (unix seconds),
//! randomness as bytes, and persistence is the caller's (see
//! [`Devices::to_json`] / [`Devices::from_json`]).
//!
//! A session cookie is `<device id>.<secret>`; only SHA-256 of the secret is
//! kept (in memory and in the data directory's `web-devices.json`), so a
//! copy of the data directory does not hand out live sessions.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Most paired devices. A household's phones, tablets and laptops are a
/// handful; 32 leaves room while keeping the file and the list small.
/// Pairing past it is refused (`too_many_devices`) until one is revoked.
pub const MAX_DEVICES: usize = 32;
/// Most pairing codes waiting to be used. Each `stoop web pair` adds one;
/// more than a few at once is a mistake, and the oldest is dropped.
pub const MAX_PENDING_CODES: usize = 4;
/// How long a pairing code stays usable: long enough to walk to the phone
/// and type it, short enough that a code read over a shoulder goes stale.
pub const CODE_TTL_SECS: u64 = 10 * 60;
/// Pairing attempts (right or wrong) allowed per [`ATTEMPT_WINDOW_SECS`],
/// for all clients together: a code has 40 bits, so 10 guesses a minute for
/// the code's 10 minutes leaves a guesser about 1 in 10^10. A global limit
/// needs no per-address map an outsider could grow.
pub const MAX_ATTEMPTS_PER_WINDOW: usize = 10;
/// The window of [`MAX_ATTEMPTS_PER_WINDOW`].
pub const ATTEMPT_WINDOW_SECS: u64 = 60;
/// Longest device name kept (bytes); longer names are cut.
pub const MAX_NAME_BYTES: usize = 64;
/// Letters of a pairing code: no 0/O or 1/I, to read off a terminal.
const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters in a pairing code (5 bits each: 40 bits).
const CODE_LEN: usize = 8;

/// Why pairing or a session was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// Too many attempts in the window.
    #[error("too many pairing attempts; try again in {retry_after} s")]
    RateLimited {
        /// Seconds until an attempt is allowed.
        retry_after: u64,
    },
    /// No pending code matches (wrong, used or expired).
    #[error("that code is wrong, used or expired; run `stoop web pair` for a new one")]
    BadCode,
    /// [`MAX_DEVICES`] are paired.
    #[error("{MAX_DEVICES} devices are paired already; revoke one with `stoop web revoke`")]
    TooManyDevices,
}

impl PairError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "too_many_attempts",
            Self::BadCode => "bad_code",
            Self::TooManyDevices => "too_many_devices",
        }
    }
}

/// A paired device as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Public id (hex), shown by `stoop web devices`, used to revoke.
    pub id: String,
    /// The name given at `stoop web pair --name`.
    pub name: String,
    /// When it paired.
    pub paired_at: u64,
    /// SHA-256 of the session secret (hex).
    secret_hash: String,
}

#[derive(Debug, Clone)]
struct PendingCode {
    code: String,
    name: String,
    expires: u64,
}

/// A new pairing code and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode {
    /// The code, e.g. `ABCD-EFGH`.
    pub code: String,
    /// Expiry (unix seconds).
    pub expires: u64,
}

/// Paired devices, pending codes and recent attempts.
#[derive(Debug, Default)]
pub struct Devices {
    devices: Vec<Device>,
    pending: VecDeque<PendingCode>,
    attempts: VecDeque<u64>,
}

fn hash_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A code as typed: upper case, without spaces or dashes.
fn normalize_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

/// Formats 5 random bytes as a readable 8-letter code `XXXX-XXXX`.
fn format_code(random: [u8; 5]) -> String {
    let bits = random.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let letters: String =
        (0..CODE_LEN).map(|i| CODE_ALPHABET[((bits >> (5 * (CODE_LEN - 1 - i))) & 31) as usize] as char).collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// A device name as kept: trimmed, control characters dropped, cut at
/// [`MAX_NAME_BYTES`] on a character boundary.
fn clean_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    if out.is_empty() { "browser".into() } else { out }
}

impl Devices {
    /// The devices from `web-devices.json` (empty when there is none).
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let mut devices: Vec<Device> = serde_json::from_slice(bytes)?;
        devices.truncate(MAX_DEVICES);
        Ok(Self { devices, ..Self::default() })
    }

    /// The devices as `web-devices.json` holds them (codes stay in memory).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.devices).unwrap_or_default()
    }

    /// Paired devices, oldest first.
    pub fn list(&self) -> &[Device] {
        &self.devices
    }

    /// Pending codes (for the bound test).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// A new one-time code for a device called `name`, from 5 random bytes.
    pub fn new_code(&mut self, name: &str, random: [u8; 5], now: u64) -> NewCode {
        self.pending.retain(|p| p.expires > now);
        while self.pending.len() >= MAX_PENDING_CODES {
            self.pending.pop_front();
        }
        let code = format_code(random);
        let expires = now.saturating_add(CODE_TTL_SECS);
        self.pending.push_back(PendingCode { code: normalize_code(&code), name: clean_name(name), expires });
        NewCode { code, expires }
    }

    /// Trades a pending `code` for a session: returns the device and the
    /// cookie value `<id>.<secret>`. `random` gives the id (first 8 bytes)
    /// and the secret (the rest). Every call counts as an attempt.
    pub fn pair(&mut self, code: &str, random: [u8; 40], now: u64) -> Result<(Device, String), PairError> {
        while self.attempts.front().is_some_and(|t| now >= t.saturating_add(ATTEMPT_WINDOW_SECS)) {
            self.attempts.pop_front();
        }
        if self.attempts.len() >= MAX_ATTEMPTS_PER_WINDOW {
            let oldest = self.attempts.front().copied().unwrap_or(now);
            return Err(PairError::RateLimited { retry_after: (oldest + ATTEMPT_WINDOW_SECS).saturating_sub(now) });
        }
        self.attempts.push_back(now);
        self.pending.retain(|p| p.expires > now);
        let typed = normalize_code(code);
        let found = self.pending.iter().position(|p| bool::from(p.code.as_bytes().ct_eq(typed.as_bytes())));
        let Some(index) = found else { return Err(PairError::BadCode) };
        if self.devices.len() >= MAX_DEVICES {
            return Err(PairError::TooManyDevices);
        }
        let Some(pending) = self.pending.remove(index) else { return Err(PairError::BadCode) };
        let id = hex::encode(&random[..8]);
        let secret = hex::encode(&random[8..]);
        let device = Device { id: id.clone(), name: pending.name, paired_at: now, secret_hash: hash_hex(&secret) };
        self.devices.push(device.clone());
        Ok((device, format!("{id}.{secret}")))
    }

    /// The device a cookie value belongs to, if it is a live session.
    pub fn session(&self, cookie: &str) -> Option<&Device> {
        let (id, secret) = cookie.split_once('.')?;
        let device = self.devices.iter().find(|d| d.id == id)?;
        let presented = hash_hex(secret);
        bool::from(presented.as_bytes().ct_eq(device.secret_hash.as_bytes())).then_some(device)
    }

    /// Ends device `id`'s session; whether it existed.
    pub fn revoke(&mut self, id: &str) -> bool {
        let before = self.devices.len();
        self.devices.retain(|d| d.id != id);
        self.devices.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paired(d: &mut Devices, n: u8, now: u64) -> Result<(Device, String), PairError> {
        let code = d.new_code("phone", [n; 5], now).code;
        d.attempts.clear();
        d.pair(&code, [n; 40], now)
    }

    #[test]
    fn a_code_pairs_once_and_the_cookie_opens_a_session() -> Result<(), PairError> {
        let mut d = Devices::default();
        let code = d.new_code("Maya's phone", [1, 2, 3, 4, 5], 1000);
        assert_eq!(code.code.len(), 9);
        assert_eq!(code.expires, 1000 + CODE_TTL_SECS);
        let (device, cookie) = d.pair(&code.code.to_lowercase().replace('-', " "), [9; 40], 1001)?;
        assert_eq!(device.name, "Maya's phone");
        assert_eq!(d.session(&cookie).map(|x| x.id.clone()), Some(device.id.clone()));
        assert_eq!(d.pair(&code.code, [8; 40], 1002), Err(PairError::BadCode), "used twice");
        let (id, _) = cookie.split_once('.').ok_or(PairError::BadCode)?;
        assert!(d.session(&format!("{id}.{}", "00".repeat(32))).is_none(), "wrong secret");
        assert!(d.session("garbage").is_none());
        assert!(d.revoke(&device.id));
        assert!(d.session(&cookie).is_none(), "revoked");
        Ok(())
    }

    #[test]
    fn codes_expire() {
        let mut d = Devices::default();
        let code = d.new_code("x", [7; 5], 1000).code;
        assert_eq!(d.pair(&code, [1; 40], 1000 + CODE_TTL_SECS).err(), Some(PairError::BadCode));
    }

    #[test]
    fn only_the_secret_hash_is_persisted_and_sessions_survive_a_reload() -> Result<(), Box<dyn std::error::Error>> {
        let mut d = Devices::default();
        let (_, cookie) = paired(&mut d, 3, 50)?;
        let json = d.to_json();
        let (_, secret) = cookie.split_once('.').ok_or("no dot")?;
        assert!(!String::from_utf8_lossy(&json).contains(secret), "the secret itself is on disk");
        let reloaded = Devices::from_json(&json)?;
        assert!(reloaded.session(&cookie).is_some());
        Ok(())
    }

    #[test]
    fn attempts_are_rate_limited_with_a_positive_control() {
        let mut d = Devices::default();
        let code = d.new_code("x", [5; 5], 0).code;
        for _ in 0..MAX_ATTEMPTS_PER_WINDOW {
            assert_eq!(d.pair("WRONG-CODE", [0; 40], 10).err(), Some(PairError::BadCode));
        }
        assert_eq!(d.pair(&code, [0; 40], 20).err(), Some(PairError::RateLimited { retry_after: 50 }));
        // Once the window has passed the right code works again.
        assert!(d.pair(&code, [0; 40], 10 + ATTEMPT_WINDOW_SECS).is_ok());
    }

    #[test]
    fn devices_and_codes_are_bounded() -> Result<(), PairError> {
        let mut d = Devices::default();
        for n in 0..MAX_DEVICES {
            paired(&mut d, n as u8, 5)?;
        }
        assert_eq!(d.list().len(), MAX_DEVICES);
        assert_eq!(paired(&mut d, 200, 5).err(), Some(PairError::TooManyDevices));
        for n in 0..(MAX_PENDING_CODES + 3) {
            d.new_code("x", [n as u8; 5], 6);
        }
        assert_eq!(d.pending_len(), MAX_PENDING_CODES);
        Ok(())
    }

    #[test]
    fn names_are_cleaned_and_bounded() {
        assert_eq!(clean_name("  a\u{7}b  "), "ab");
        assert_eq!(clean_name(""), "browser");
        assert!(clean_name(&"é".repeat(100)).len() <= MAX_NAME_BYTES);
    }
}
