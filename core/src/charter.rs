//! The charter: a neighborhood's founding document and its rules.
//!
//! The hood id is the hash of the exact charter bytes, and every founder
//! signs those bytes, so no one can change a hood's rules without making a
//! different hood.

use std::collections::BTreeSet;

use prost::Message;
use stoop_proto::v1 as pb;

use super::area::{Cell, MAX_PRECISION};
use super::ids::{HoodId, Tag};
use super::keys::{AuthorKey, KeyError, PublicKey};

/// Charter format version this code understands.
pub const CHARTER_VERSION: u32 = 1;
/// Hard cap on founders, so a charter stays small.
pub const MAX_FOUNDERS: usize = 32;
/// Hard cap on the charter encoding.
pub const MAX_CHARTER_BYTES: usize = 16 * 1024;

/// Why a charter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CharterError {
    /// Not valid protobuf.
    #[error("charter is not valid protobuf: {0}")]
    Malformed(String),
    /// Valid protobuf but not the canonical encoding.
    #[error("charter encoding is not canonical")]
    NonCanonical,
    /// A rule is out of range.
    #[error("invalid charter: {0}")]
    Invalid(&'static str),
    /// A founder key is bad.
    #[error("bad founder key: {0}")]
    BadKey(#[from] KeyError),
    /// A founder did not sign, or a signature is bad.
    #[error("charter is missing a valid signature from founder {0}")]
    Unsigned(PublicKey),
}

/// Rules for one alert category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRule {
    /// Category name (lowercase, snake_case).
    pub name: String,
    /// Longest allowed lifetime (`expires - sent`), seconds.
    pub max_lifetime_secs: u64,
    /// Alerts about a person: the profiling guard applies.
    pub about_person: bool,
}

/// Posting quotas per author.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// Alerts (and updates) per clock hour of `sent`.
    pub per_hour: u32,
    /// Alerts (and updates) per UTC day of `sent`.
    pub per_day: u32,
}

/// A validated charter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charter {
    /// Human name of the hood.
    pub name: String,
    /// Cells that make up the hood.
    pub area: Vec<Cell>,
    /// Founding moderators (also members).
    pub founders: Vec<PublicKey>,
    /// Moderators needed for any quorum decision.
    pub quorum: u32,
    /// Posting quotas.
    pub quotas: Quotas,
    /// Seconds expired alerts are kept before deletion.
    pub retention_secs: u64,
    /// Allowed categories.
    pub categories: Vec<CategoryRule>,
    /// Finest allowed alert cell precision.
    pub max_cell_precision: usize,
    /// Whether links are allowed in text.
    pub allow_links: bool,
    /// Cap on a description, bytes.
    pub max_description_len: usize,
    /// Creation time.
    pub created: u64,
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// The default categories: short lifetimes for fast-moving events, a week
/// for lost and found pets.
pub fn default_categories() -> Vec<CategoryRule> {
    let rule = |name: &str, hours: u64, about_person: bool| CategoryRule {
        name: name.to_owned(),
        max_lifetime_secs: hours * HOUR,
        about_person,
    };
    vec![
        rule("crime", 48, false),
        rule("suspicious_activity", 12, true),
        rule("safety", 24, false),
        rule("fire", 12, false),
        rule("traffic", 12, false),
        rule("utility", 48, false),
        rule("weather", 48, false),
        rule("lost_pet", 7 * 24, false),
        rule("found_pet", 7 * 24, false),
        rule("community", 7 * 24, false),
    ]
}

impl Charter {
    /// A charter with the defaults for everything but name, area and founders.
    pub fn new(name: &str, area: Vec<Cell>, founders: Vec<PublicKey>, created: u64) -> Self {
        let quorum = founders.len().clamp(1, 2) as u32;
        Self {
            name: name.to_owned(),
            area,
            founders,
            quorum,
            quotas: Quotas { per_hour: 6, per_day: 20 },
            retention_secs: 30 * DAY,
            categories: default_categories(),
            max_cell_precision: MAX_PRECISION,
            allow_links: false,
            max_description_len: 2000,
            created,
        }
    }

    /// The rule for a category, if allowed.
    pub fn category(&self, name: &str) -> Option<&CategoryRule> {
        self.categories.iter().find(|c| c.name == name)
    }

    /// Checks every rule is in range.
    pub fn check(&self) -> Result<(), CharterError> {
        let invalid = |why| Err(CharterError::Invalid(why));
        if self.name.trim().is_empty() || self.name.len() > 80 {
            return invalid("name must be 1..=80 bytes");
        }
        if self.name.chars().any(char::is_control) {
            return invalid("name has control characters");
        }
        if self.area.is_empty() || self.area.len() > 64 {
            return invalid("area must have 1..=64 cells");
        }
        if self.area.iter().any(|c| c.precision() > MAX_PRECISION) {
            return invalid("area cells must have precision <= 6");
        }
        if !(1..=MAX_PRECISION).contains(&self.max_cell_precision) {
            return invalid("max_cell_precision must be 1..=6");
        }
        if self.area.iter().any(|c| c.precision() > self.max_cell_precision) {
            return invalid("area cells are finer than max_cell_precision");
        }
        if self.founders.is_empty() || self.founders.len() > MAX_FOUNDERS {
            return invalid("there must be 1..=32 founders");
        }
        if self.founders.iter().collect::<BTreeSet<_>>().len() != self.founders.len() {
            return invalid("duplicate founder");
        }
        if self.quorum == 0 || self.quorum as usize > self.founders.len() {
            return invalid("quorum must be 1..=number of founders");
        }
        if self.quotas.per_hour == 0 || self.quotas.per_day < self.quotas.per_hour {
            return invalid("quotas must be per_hour >= 1 and per_day >= per_hour");
        }
        if self.retention_secs == 0 || self.retention_secs > 366 * DAY {
            return invalid("retention must be 1s..=366 days");
        }
        if self.categories.is_empty() || self.categories.len() > 64 {
            return invalid("there must be 1..=64 categories");
        }
        let mut names = BTreeSet::new();
        for c in &self.categories {
            let ok_name =
                !c.name.is_empty() && c.name.len() <= 32 && c.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !ok_name {
                return invalid("category names are 1..=32 of a-z and _");
            }
            if !names.insert(c.name.as_str()) {
                return invalid("duplicate category");
            }
            if c.max_lifetime_secs == 0 || c.max_lifetime_secs > 30 * DAY {
                return invalid("category lifetime must be 1s..=30 days");
            }
        }
        if !(16..=8000).contains(&self.max_description_len) {
            return invalid("max_description_len must be 16..=8000");
        }
        Ok(())
    }

    /// Canonical protobuf bytes of this charter.
    pub fn to_bytes(&self) -> Vec<u8> {
        pb::Charter {
            version: CHARTER_VERSION,
            name: self.name.clone(),
            area: self.area.iter().map(|c| c.as_str().to_owned()).collect(),
            founders: self.founders.iter().map(|k| k.as_bytes().to_vec()).collect(),
            quorum: self.quorum,
            quotas: Some(pb::Quotas { alerts_per_hour: self.quotas.per_hour, alerts_per_day: self.quotas.per_day }),
            retention_secs: self.retention_secs,
            categories: self
                .categories
                .iter()
                .map(|c| pb::CategoryRule {
                    name: c.name.clone(),
                    max_lifetime_secs: c.max_lifetime_secs,
                    about_person: c.about_person,
                })
                .collect(),
            max_cell_precision: self.max_cell_precision as u32,
            allow_links: self.allow_links,
            max_description_len: self.max_description_len as u32,
            created: self.created,
        }
        .encode_to_vec()
    }

    /// Parses and checks charter bytes (which must be canonical).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CharterError> {
        if bytes.len() > MAX_CHARTER_BYTES {
            return Err(CharterError::Invalid("charter too large"));
        }
        let p = pb::Charter::decode(bytes).map_err(|e| CharterError::Malformed(e.to_string()))?;
        if p.encode_to_vec() != bytes {
            return Err(CharterError::NonCanonical);
        }
        if p.version != CHARTER_VERSION {
            return Err(CharterError::Invalid("unsupported charter version"));
        }
        let quotas = p.quotas.ok_or(CharterError::Invalid("missing quotas"))?;
        let area = p
            .area
            .iter()
            .map(|c| Cell::parse(c).map_err(|_| CharterError::Invalid("area cell is not a geohash")))
            .collect::<Result<Vec<_>, _>>()?;
        // Cells must be given in canonical (lowercase) form, or the id would
        // depend on the spelling.
        if area.iter().zip(&p.area).any(|(c, s)| c.as_str() != s) {
            return Err(CharterError::Invalid("area cells must be lowercase"));
        }
        let founders = p.founders.iter().map(|k| PublicKey::from_slice(k)).collect::<Result<Vec<_>, _>>()?;
        let charter = Self {
            name: p.name,
            area,
            founders,
            quorum: p.quorum,
            quotas: Quotas { per_hour: quotas.alerts_per_hour, per_day: quotas.alerts_per_day },
            retention_secs: p.retention_secs,
            categories: p
                .categories
                .into_iter()
                .map(|c| CategoryRule {
                    name: c.name,
                    max_lifetime_secs: c.max_lifetime_secs,
                    about_person: c.about_person,
                })
                .collect(),
            max_cell_precision: p.max_cell_precision as usize,
            allow_links: p.allow_links,
            max_description_len: p.max_description_len as usize,
            created: p.created,
        };
        charter.check()?;
        Ok(charter)
    }
}

/// A charter with its founders' signatures: what a ticket carries and what
/// the store keeps. Construct with [`SignedCharter::sign`] or
/// [`SignedCharter::from_bytes`]; both check every signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCharter {
    charter: Charter,
    bytes: Vec<u8>,
    signatures: Vec<(PublicKey, [u8; 64])>,
    hood: HoodId,
}

impl SignedCharter {
    /// Signs a charter with every founder's key (all founders must be given).
    pub fn sign(charter: Charter, founder_keys: &[&AuthorKey]) -> Result<Self, CharterError> {
        charter.check()?;
        let bytes = charter.to_bytes();
        let mut signatures = Vec::new();
        for founder in &charter.founders {
            let key = founder_keys.iter().find(|k| k.public() == *founder).ok_or(CharterError::Unsigned(*founder))?;
            signatures.push((*founder, key.sign(Tag::Charter, &bytes)));
        }
        let hood = HoodId::of(Tag::Charter, &bytes);
        Ok(Self { charter, bytes, signatures, hood })
    }

    /// Parses the wire form and checks every founder signed.
    pub fn from_proto(p: &pb::SignedCharter) -> Result<Self, CharterError> {
        let charter = Charter::from_bytes(&p.charter)?;
        let mut signatures = Vec::new();
        for founder in &charter.founders {
            let sig = p
                .signatures
                .iter()
                .find(|s| s.signer.as_slice() == founder.as_bytes())
                .ok_or(CharterError::Unsigned(*founder))?;
            founder.verify(Tag::Charter, &p.charter, &sig.signature).map_err(|_| CharterError::Unsigned(*founder))?;
            let mut arr = [0u8; 64];
            arr.copy_from_slice(&sig.signature);
            signatures.push((*founder, arr));
        }
        let hood = HoodId::of(Tag::Charter, &p.charter);
        Ok(Self { charter, bytes: p.charter.clone(), signatures, hood })
    }

    /// Parses encoded `SignedCharter` bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CharterError> {
        let p = pb::SignedCharter::decode(bytes).map_err(|e| CharterError::Malformed(e.to_string()))?;
        Self::from_proto(&p)
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::SignedCharter {
        pb::SignedCharter {
            charter: self.bytes.clone(),
            signatures: self
                .signatures
                .iter()
                .map(|(k, s)| pb::FounderSignature { signer: k.as_bytes().to_vec(), signature: s.to_vec() })
                .collect(),
        }
    }

    /// Encoded `SignedCharter` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// The rules.
    pub fn charter(&self) -> &Charter {
        &self.charter
    }

    /// The hood id.
    pub fn hood(&self) -> HoodId {
        self.hood
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn founders(n: usize) -> Result<Vec<AuthorKey>, getrandom::Error> {
        (0..n).map(|_| AuthorKey::generate()).collect()
    }

    #[test]
    fn sign_parse_round_trip_gives_the_same_hood() -> TestResult {
        let keys = founders(3)?;
        let charter =
            Charter::new("Elm Street", vec![Cell::parse("dr5ru")?], keys.iter().map(AuthorKey::public).collect(), 1);
        let refs: Vec<&AuthorKey> = keys.iter().collect();
        let signed = SignedCharter::sign(charter, &refs)?;
        let back = SignedCharter::from_bytes(&signed.to_bytes())?;
        assert_eq!(back.hood(), signed.hood());
        assert_eq!(back.charter(), signed.charter());
        assert_eq!(back.charter().quorum, 2);
        Ok(())
    }

    #[test]
    fn a_missing_founder_signature_is_refused() -> TestResult {
        let keys = founders(2)?;
        let charter = Charter::new("Elm", vec![Cell::parse("dr5ru")?], keys.iter().map(AuthorKey::public).collect(), 1);
        assert!(matches!(SignedCharter::sign(charter.clone(), &[&keys[0]]), Err(CharterError::Unsigned(_))));
        let signed = SignedCharter::sign(charter, &[&keys[0], &keys[1]])?;
        let mut p = signed.to_proto();
        p.signatures.pop();
        assert!(matches!(SignedCharter::from_proto(&p), Err(CharterError::Unsigned(_))));
        let mut p = signed.to_proto();
        p.signatures[0].signature[5] ^= 1;
        assert!(matches!(SignedCharter::from_proto(&p), Err(CharterError::Unsigned(_))));
        Ok(())
    }

    #[test]
    fn out_of_range_rules_are_refused() -> TestResult {
        let keys = founders(1)?;
        let base = Charter::new("Elm", vec![Cell::parse("dr5ru")?], vec![keys[0].public()], 1);
        base.check()?;
        let mut c = base.clone();
        c.quorum = 2;
        assert!(c.check().is_err());
        let mut c = base.clone();
        c.area = vec![Cell::parse("dr5ru7k")?];
        assert!(c.check().is_err());
        let mut c = base.clone();
        c.quotas.per_hour = 0;
        assert!(c.check().is_err());
        let mut c = base;
        c.categories.push(c.categories[0].clone());
        assert!(c.check().is_err());
        Ok(())
    }
}
