//! CAP 1.2 (OASIS Common Alerting Protocol) export and import.
//!
//! Stoop alerts already follow CAP's vocabulary, so an alert maps to one
//! CAP `<alert>` with one `<info>` and one `<area>`. What CAP can carry and
//! Stoop refuses is refused on import with a named reason rather than
//! dropped silently: `<resource>` (images, video, links to footage) is
//! `media_not_allowed`; statuses and message types Stoop has no use for
//! (`System`, `Draft`, `Ack`, `Error`) are `unsupported_cap`. Precise
//! `<polygon>` / `<circle>` areas are never imported: the area comes from a
//! `geohash` geocode or the node's default cell, and the caller is told.
//!
//! Export and import are pure functions over the API's JSON and XML text,
//! so they are tested without a node.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The CAP 1.2 XML namespace.
pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// Identifiers and senders Stoop writes start with this, so an import can
/// tell a Stoop reference from another system's.
const STOOP_PREFIX: &str = "stoop:";
/// The geocode name that carries a geohash cell.
const GEOHASH: &str = "geohash";
/// The eventCode name that carries the exact Stoop category.
const STOOP_CATEGORY: &str = "stoop:category";
/// Largest CAP document read (a single alert is a few KiB).
pub const MAX_CAP_BYTES: usize = 256 * 1024;

/// Why a CAP document could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    /// Not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// Well-formed, but not a CAP 1.2 alert.
    #[error("not a CAP 1.2 alert: {0}")]
    NotCap(String),
    /// A required element is missing or empty.
    #[error("missing <{0}>")]
    Missing(&'static str),
    /// A value Stoop does not support.
    #[error("<{field}> {value:?} is not supported by Stoop")]
    Unsupported {
        /// The element.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// A `<resource>`: Stoop carries text only.
    #[error("the alert carries a <resource> (media or a link to it); Stoop carries text only")]
    Media,
    /// A date that is not CAP's `YYYY-MM-DDThh:mm:ss±hh:mm`.
    #[error("<{field}> is not a CAP date: {value:?}")]
    BadTime {
        /// The element.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// `<expires>` is already past.
    #[error("the alert expired already")]
    Expired,
    /// An Update or Cancel that does not reference a Stoop alert.
    #[error("an {0} must reference a Stoop alert (identifier stoop:<id>)")]
    NoStoopReference(&'static str),
    /// The document is larger than [`MAX_CAP_BYTES`].
    #[error("the document is larger than {MAX_CAP_BYTES} bytes")]
    TooLarge,
}

impl CapError {
    /// Stable snake_case reason, as the node's API reasons.
    pub fn code(&self) -> &'static str {
        match self {
            CapError::Media => "media_not_allowed",
            CapError::Expired => "expired",
            CapError::Unsupported { .. } | CapError::NoStoopReference(_) => "unsupported_cap",
            CapError::TooLarge => "body_too_large",
            CapError::Xml(_) | CapError::NotCap(_) | CapError::Missing(_) | CapError::BadTime { .. } => "invalid_cap",
        }
    }
}

/// A CAP date: UTC written as `+00:00` (CAP 1.2 forbids `Z`).
pub fn cap_time(unix: u64) -> String {
    let dt = i64::try_from(unix)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

fn parse_time(field: &'static str, value: &str) -> Result<u64, CapError> {
    let bad = || CapError::BadTime { field, value: value.to_owned() };
    let dt = OffsetDateTime::parse(value.trim(), &Rfc3339).map_err(|_| bad())?;
    u64::try_from(dt.unix_timestamp()).map_err(|_| bad())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `actual` → `Actual`: Stoop's API names are CAP's values in lowercase.
fn cap_case(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// The CAP `<category>` closest to a Stoop category.
fn cap_category(stoop: &str) -> &'static str {
    match stoop {
        "crime" | "suspicious_activity" => "Security",
        "safety" => "Safety",
        "fire" => "Fire",
        "traffic" => "Transport",
        "utility" => "Infra",
        "weather" => "Met",
        _ => "Other",
    }
}

/// The Stoop category for a CAP `<category>` without a `stoop:category` code.
fn stoop_category(cap: &str) -> &'static str {
    match cap {
        "Security" => "crime",
        "Fire" => "fire",
        "Transport" => "traffic",
        "Infra" => "utility",
        "Met" | "Geo" | "Env" => "weather",
        "Safety" | "Rescue" | "Health" | "CBRNE" => "safety",
        _ => "community",
    }
}

fn field<'a>(v: &'a Value, key: &'static str) -> Result<&'a str, CapError> {
    v[key].as_str().filter(|s| !s.is_empty()).ok_or(CapError::Missing(key))
}

fn sender_of(alert: &Value, hood: &str) -> Result<String, CapError> {
    Ok(format!("{STOOP_PREFIX}{}@{hood}", field(alert, "author")?))
}

/// One CAP 1.2 document for an alert as `GET /v1/alerts/{id}` returns it
/// (its `alert` object). `original` is the referenced alert, for Updates
/// and Cancels (CAP references name the original's sender and sent time).
pub fn export(alert: &Value, original: Option<&Value>, hood_id: &str, hood_name: &str) -> Result<String, CapError> {
    let num = |key: &'static str| alert[key].as_u64().ok_or(CapError::Missing(key));
    let category = field(alert, "category")?;
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!("<alert xmlns=\"{CAP_NS}\">\n"));
    element(&mut x, 2, "identifier", &format!("{STOOP_PREFIX}{}", field(alert, "id")?));
    element(&mut x, 2, "sender", &sender_of(alert, hood_id)?);
    element(&mut x, 2, "sent", &cap_time(num("sent")?));
    element(&mut x, 2, "status", &cap_case(field(alert, "status")?));
    element(&mut x, 2, "msgType", &cap_case(field(alert, "msg_type")?));
    element(&mut x, 2, "scope", "Restricted");
    element(&mut x, 2, "restriction", &format!("members of the Stoop neighborhood {hood_name}"));
    if let Some(orig) = original {
        let sent = orig["sent"].as_u64().ok_or(CapError::Missing("sent"))?;
        let reference =
            format!("{},{STOOP_PREFIX}{},{}", sender_of(orig, hood_id)?, field(orig, "id")?, cap_time(sent));
        element(&mut x, 2, "references", &reference);
    }
    x.push_str("  <info>\n");
    element(&mut x, 4, "category", cap_category(category));
    element(&mut x, 4, "event", field(alert, "event")?);
    element(&mut x, 4, "urgency", &cap_case(field(alert, "urgency")?));
    element(&mut x, 4, "severity", &cap_case(field(alert, "severity")?));
    element(&mut x, 4, "certainty", &cap_case(field(alert, "certainty")?));
    x.push_str("    <eventCode>\n");
    element(&mut x, 6, "valueName", STOOP_CATEGORY);
    element(&mut x, 6, "value", category);
    x.push_str("    </eventCode>\n");
    element(&mut x, 4, "expires", &cap_time(num("expires")?));
    element(&mut x, 4, "senderName", &format!("Stoop neighborhood {hood_name}"));
    element(&mut x, 4, "headline", field(alert, "headline")?);
    if let Some(d) = alert["description"].as_str().filter(|d| !d.is_empty()) {
        element(&mut x, 4, "description", d);
    }
    if let Some(i) = alert["instruction"].as_str().filter(|i| !i.is_empty()) {
        element(&mut x, 4, "instruction", i);
    }
    let area = field(alert, "area")?;
    x.push_str("    <area>\n");
    element(&mut x, 6, "areaDesc", &format!("geohash cell {area}"));
    x.push_str("      <geocode>\n");
    element(&mut x, 8, "valueName", GEOHASH);
    element(&mut x, 8, "value", area);
    x.push_str("      </geocode>\n    </area>\n  </info>\n</alert>\n");
    Ok(x)
}

/// Appends `<name>value</name>` on its own line, indented, value escaped.
fn element(x: &mut String, indent: usize, name: &str, value: &str) {
    x.push_str(&format!("{:indent$}<{name}>{}</{name}>\n", "", escape(value)));
}

/// What an imported CAP document asks the node to do.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportKind {
    /// Post a new alert.
    Alert,
    /// Update the Stoop alert with this id (hex).
    Update(String),
    /// Cancel the Stoop alert with this id (hex).
    Cancel(String),
}

/// A CAP document turned into a request for the node's API.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// Post, update or cancel.
    pub kind: ImportKind,
    /// The `POST /v1/alerts` body (for a Cancel, `{"note": ...}`).
    pub body: Value,
    /// Things the user should know (a second `<info>` ignored, a polygon
    /// dropped...), one line each.
    pub notes: Vec<String>,
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|n| n.is_element() && n.tag_name().name() == name)
}

fn text<'a>(node: roxmltree::Node<'a, '_>, name: &'static str) -> Option<&'a str> {
    child(node, name).and_then(|n| n.text()).map(str::trim).filter(|t| !t.is_empty())
}

fn required<'a>(node: roxmltree::Node<'a, '_>, name: &'static str) -> Result<&'a str, CapError> {
    text(node, name).ok_or(CapError::Missing(name))
}

/// `valueName`/`value` pairs under `name` (eventCode, geocode).
fn pairs<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Vec<(&'a str, &'a str)> {
    node.children()
        .filter(|n| n.is_element() && n.tag_name().name() == name)
        .filter_map(|n| Some((text(n, "valueName")?, text(n, "value")?)))
        .collect()
}

fn one_of(field: &'static str, value: &str, allowed: &[&str]) -> Result<String, CapError> {
    if allowed.contains(&value) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(CapError::Unsupported { field, value: value.to_owned() })
    }
}

/// Reads one CAP 1.2 document at time `now`.
pub fn import(xml: &str, now: u64) -> Result<Imported, CapError> {
    if xml.len() > MAX_CAP_BYTES {
        return Err(CapError::TooLarge);
    }
    let doc = roxmltree::Document::parse(xml).map_err(|e| CapError::Xml(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "alert" || root.tag_name().namespace() != Some(CAP_NS) {
        return Err(CapError::NotCap(format!("the root element must be <alert xmlns=\"{CAP_NS}\">")));
    }
    // Anywhere in the document: Stoop never carries media or links to it.
    if root.descendants().any(|n| n.is_element() && n.tag_name().name() == "resource") {
        return Err(CapError::Media);
    }
    let mut notes = Vec::new();
    let status = one_of("status", required(root, "status")?, &["Actual", "Exercise", "Test"])?;
    let msg_type = required(root, "msgType")?;
    let kind = match msg_type {
        "Alert" => ImportKind::Alert,
        "Update" | "Cancel" => {
            let what = if msg_type == "Update" { "Update" } else { "Cancel" };
            // "sender,identifier,sent" triples, whitespace-separated.
            let id = text(root, "references")
                .into_iter()
                .flat_map(str::split_whitespace)
                .filter_map(|triple| triple.split(',').nth(1))
                .find_map(|ident| ident.strip_prefix(STOOP_PREFIX))
                .ok_or(CapError::NoStoopReference(what))?
                .to_owned();
            if what == "Update" { ImportKind::Update(id) } else { ImportKind::Cancel(id) }
        }
        other => return Err(CapError::Unsupported { field: "msgType", value: other.to_owned() }),
    };
    let infos: Vec<_> = root.children().filter(|n| n.is_element() && n.tag_name().name() == "info").collect();
    let info = *infos.first().ok_or(CapError::Missing("info"))?;
    if infos.len() > 1 {
        notes.push(format!("used the first of {} <info> blocks", infos.len()));
    }
    if let ImportKind::Cancel(_) = kind {
        let note = text(info, "headline").or_else(|| text(info, "description")).unwrap_or_default();
        return Ok(Imported { kind, body: json!({ "note": note }), notes });
    }
    let category = match pairs(info, "eventCode").into_iter().find(|(name, _)| *name == STOOP_CATEGORY) {
        Some((_, value)) => value.to_owned(),
        None => stoop_category(required(info, "category")?).to_owned(),
    };
    let urgency =
        one_of("urgency", required(info, "urgency")?, &["Immediate", "Expected", "Future", "Past", "Unknown"])?;
    let severity =
        one_of("severity", required(info, "severity")?, &["Extreme", "Severe", "Moderate", "Minor", "Unknown"])?;
    let certainty =
        one_of("certainty", required(info, "certainty")?, &["Observed", "Likely", "Possible", "Unlikely", "Unknown"])?;
    let mut body = json!({
        "category": category,
        "event": required(info, "event")?,
        "headline": required(info, "headline")?,
        "description": text(info, "description").unwrap_or_default(),
        "instruction": text(info, "instruction").unwrap_or_default(),
        "urgency": urgency,
        "severity": severity,
        "certainty": certainty,
        "status": status,
    });
    if let Some(expires) = text(info, "expires") {
        let expires = parse_time("expires", expires)?;
        if expires <= now {
            return Err(CapError::Expired);
        }
        body["expires_in"] = json!(expires - now);
    }
    let areas: Vec<_> = info.children().filter(|n| n.is_element() && n.tag_name().name() == "area").collect();
    let cell = areas
        .iter()
        .flat_map(|a| pairs(*a, "geocode"))
        .find(|(name, _)| name.eq_ignore_ascii_case(GEOHASH))
        .map(|(_, v)| v.to_owned());
    let precise = areas.iter().any(|a| child(*a, "polygon").is_some() || child(*a, "circle").is_some());
    match cell {
        Some(cell) => body["area"] = json!(cell),
        None if !areas.is_empty() => notes.push("no geohash geocode: the alert gets the hood's default cell".into()),
        None => {}
    }
    if precise {
        notes.push("left out <polygon>/<circle>: Stoop shares coarse cells only".into());
    }
    Ok(Imported { kind, body, notes })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_600_000;

    fn alert_json() -> Value {
        json!({
            "id": "ab".repeat(32), "author": "cd".repeat(32), "category": "lost_pet",
            "event": "lost dog", "headline": "Lost dog <Max> & friend",
            "description": "Small \"brown\" terrier.", "instruction": "",
            "urgency": "expected", "severity": "minor", "certainty": "observed",
            "status": "actual", "msg_type": "alert", "references": null,
            "area": "dr5ru", "sent": NOW, "expires": NOW + 3600,
        })
    }

    #[test]
    fn times_are_cap_dates_and_parse_back() {
        assert_eq!(cap_time(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(cap_time(NOW), "2026-11-25T09:46:40+00:00");
        assert_eq!(parse_time("sent", &cap_time(NOW)), Ok(NOW));
        assert_eq!(parse_time("sent", "2026-11-25T10:46:40+01:00"), Ok(NOW));
        assert_eq!(parse_time("sent", "2026-11-25T09:46:40-00:00"), Ok(NOW));
        assert!(matches!(parse_time("sent", "yesterday"), Err(CapError::BadTime { .. })));
    }

    #[test]
    fn export_then_import_keeps_every_field() {
        let xml = export(&alert_json(), None, "ef", "Elm Street").unwrap();
        assert!(xml.contains("<headline>Lost dog &lt;Max&gt; &amp; friend</headline>"), "{xml}");
        assert!(xml.contains("<category>Other</category>"));
        assert!(xml.contains("<sent>2026-11-25T09:46:40+00:00</sent>"));
        let imported = import(&xml, NOW).unwrap();
        assert_eq!(imported.kind, ImportKind::Alert);
        assert!(imported.notes.is_empty(), "{:?}", imported.notes);
        let b = &imported.body;
        assert_eq!(b["category"], "lost_pet", "the exact category survives via eventCode");
        assert_eq!(b["headline"], "Lost dog <Max> & friend");
        assert_eq!(b["description"], "Small \"brown\" terrier.");
        assert_eq!(b["urgency"], "expected");
        assert_eq!(b["severity"], "minor");
        assert_eq!(b["certainty"], "observed");
        assert_eq!(b["status"], "actual");
        assert_eq!(b["area"], "dr5ru");
        assert_eq!(b["expires_in"], 3600);
    }

    #[test]
    fn updates_and_cancels_reference_the_original() {
        let original = alert_json();
        let mut update = alert_json();
        update["id"] = json!("12".repeat(32));
        update["msg_type"] = json!("update");
        let xml = export(&update, Some(&original), "ef", "Elm").unwrap();
        assert_eq!(import(&xml, NOW).unwrap().kind, ImportKind::Update("ab".repeat(32)));
        let cancel = xml.replace("<msgType>Update</msgType>", "<msgType>Cancel</msgType>");
        let imported = import(&cancel, NOW).unwrap();
        assert_eq!(imported.kind, ImportKind::Cancel("ab".repeat(32)));
        assert_eq!(imported.body["note"], "Lost dog <Max> & friend");
        let foreign = xml.replace(&format!("stoop:{}", "ab".repeat(32)), "NWS-123");
        assert_eq!(import(&foreign, NOW), Err(CapError::NoStoopReference("Update")));
    }

    fn minimal(info_extra: &str, root_extra: &str) -> String {
        format!(
            "<alert xmlns=\"{CAP_NS}\"><identifier>x</identifier><sender>s</sender>\
             <sent>2026-11-25T07:00:00-00:00</sent><status>Actual</status><msgType>Alert</msgType>\
             <scope>Public</scope>{root_extra}<info><category>Fire</category><event>Brush fire</event>\
             <urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty>\
             <headline>Brush fire by the creek</headline>{info_extra}</info></alert>"
        )
    }

    #[test]
    fn foreign_cap_maps_categories_and_drops_precise_areas() {
        let xml = minimal(
            "<area><areaDesc>Creek</areaDesc><polygon>38.47,-120.14 38.34,-119.95 38.47,-120.14</polygon></area>",
            "",
        );
        let imported = import(&xml, NOW).unwrap();
        assert_eq!(imported.body["category"], "fire");
        assert!(imported.body.get("area").is_none());
        assert_eq!(imported.notes.len(), 2, "{:?}", imported.notes);
        assert!(imported.body.get("expires_in").is_none(), "the node picks the default lifetime");
    }

    #[test]
    fn what_stoop_refuses_is_named() {
        let media = minimal("<resource><resourceDesc>clip</resourceDesc><mimeType>video/mp4</mimeType></resource>", "");
        assert_eq!(import(&media, NOW).map_err(|e| e.code()), Err("media_not_allowed"));
        let draft = minimal("", "").replace("<status>Actual</status>", "<status>Draft</status>");
        assert_eq!(import(&draft, NOW).map_err(|e| e.code()), Err("unsupported_cap"));
        let expired = minimal("<expires>2026-11-25T06:00:00+00:00</expires>", "");
        assert_eq!(import(&expired, NOW), Err(CapError::Expired));
        assert_eq!(import("<alert>", NOW).map_err(|e| e.code()), Err("invalid_cap"));
        assert!(matches!(import("<alert/>", NOW), Err(CapError::NotCap(_))));
        let no_headline = minimal("", "").replace("<headline>Brush fire by the creek</headline>", "");
        assert_eq!(import(&no_headline, NOW), Err(CapError::Missing("headline")));
        assert_eq!(import(&" ".repeat(MAX_CAP_BYTES + 1), NOW), Err(CapError::TooLarge));
    }

    #[test]
    fn doctype_entities_are_refused() {
        // roxmltree expands no external entities, and refuses entity loops.
        let bomb = format!(
            "<!DOCTYPE a [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\
             <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]>{}",
            minimal("<description>&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;</description>", "")
        );
        // Either refused or bounded: never a crash or a huge allocation.
        if let Ok(i) = import(&bomb, NOW) {
            assert!(i.body["description"].as_str().unwrap().len() <= 1_000_000);
        }
    }
}
