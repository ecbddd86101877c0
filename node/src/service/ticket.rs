//! Invite tickets: what a member hands a new neighbor (text or QR). A ticket
//! carries the signed charter, the signed invite, the invite's one-time
//! secret and addresses to reach the hood. It is never gossiped.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use prost::Message;
use stoop_proto::v1 as pb;

use crate::core::charter::SignedCharter;
use crate::core::envelope::{Envelope, Kind};
use crate::core::keys::AuthorKey;

/// Text prefix of an encoded ticket (versioned).
pub const TICKET_PREFIX: &str = "stoop1:";
/// Longest ticket text accepted: room for a maximum-size charter (16 KiB)
/// plus the invite, after base64's 4/3 growth.
const MAX_TICKET_LEN: usize = 32 * 1024;

/// Why a ticket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// Not a ticket at all, or damaged in copying.
    #[error("not a Stoop ticket (it should start with {TICKET_PREFIX} and be copied whole)")]
    Malformed,
    /// The charter inside does not verify.
    #[error("the ticket's charter is invalid: {0}")]
    Charter(#[from] crate::core::charter::CharterError),
    /// The invite inside does not verify or is not an invite.
    #[error("the ticket's invite is invalid: {0}")]
    Invite(String),
}

/// A decoded, checked ticket.
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The hood's charter.
    pub charter: SignedCharter,
    /// The signed invite.
    pub invite: Envelope,
    /// The invite's one-time secret key.
    pub secret: AuthorKey,
    /// Addresses of the inviting node.
    pub bootstrap: Vec<String>,
}

impl Ticket {
    /// Text form.
    pub fn encode(&self) -> String {
        let p = pb::Ticket {
            charter: Some(self.charter.to_proto()),
            invite: self.invite.to_bytes(),
            ticket_secret: self.secret.secret_bytes().to_vec(),
            bootstrap: self.bootstrap.clone(),
        };
        format!("{TICKET_PREFIX}{}", URL_SAFE_NO_PAD.encode(p.encode_to_vec()))
    }

    /// Parses and checks a ticket's text form.
    pub fn decode(text: &str) -> Result<Self, TicketError> {
        let text = text.trim();
        if text.len() > MAX_TICKET_LEN {
            return Err(TicketError::Malformed);
        }
        let body = text.strip_prefix(TICKET_PREFIX).ok_or(TicketError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| TicketError::Malformed)?;
        let p = pb::Ticket::decode(bytes.as_slice()).map_err(|_| TicketError::Malformed)?;
        let charter = SignedCharter::from_proto(p.charter.as_ref().ok_or(TicketError::Malformed)?)?;
        let invite = Envelope::open(&p.invite).map_err(|e| TicketError::Invite(e.to_string()))?;
        if invite.kind() != Kind::Invite {
            return Err(TicketError::Invite("not an invite".into()));
        }
        let secret = AuthorKey::from_secret_slice(&p.ticket_secret).map_err(|_| TicketError::Malformed)?;
        Ok(Self { charter, invite, secret, bootstrap: p.bootstrap })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stoop_core::testkit::HoodFixture;

    #[test]
    fn round_trip_and_damage() -> Result<(), Box<dyn std::error::Error>> {
        let f = HoodFixture::new(1, 1)?;
        let (invite, secret) = f.invite(&f.founders[0], 10, 1000)?;
        let t = Ticket { charter: f.charter.clone(), invite, secret, bootstrap: vec!["/ip4/127.0.0.1/tcp/1".into()] };
        let text = t.encode();
        let back = Ticket::decode(&text)?;
        assert_eq!(back.charter.hood(), f.hood());
        assert_eq!(back.bootstrap, t.bootstrap);
        assert!(Ticket::decode(&text[..text.len() - 5]).is_err());
        assert!(matches!(Ticket::decode("hello"), Err(TicketError::Malformed)));
        Ok(())
    }
}
