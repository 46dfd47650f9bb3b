//! The session as stored (`persist`) and as told to the other tabs: the tokens and nothing the
//! receiver would have to believe. Times come from the signed token when it is verified again;
//! the one unsigned time, `by` (the answer's `expires_in` on the server clock), can only
//! shorten its life.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::json::{self, Obj, Object, Value};

/// Version tag of the stored record; a record of another version is ignored.
const RECORD_VERSION: u64 = 2;

/// A stored or shared session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The access token (verified again when read).
    pub access_token: String,
    /// The refresh token (never in cookie style).
    pub refresh_token: Option<String>,
    /// An end earlier than `exp` (seconds, server clock), from `expires_in`.
    pub expires_by_s: Option<u64>,
    /// The ID token (verified again when read).
    pub id_token: Option<String>,
}

impl Record {
    /// The record as a JSON object.
    pub fn to_json(&self) -> String {
        Obj::new()
            .num("v", RECORD_VERSION)
            .str("at", &self.access_token)
            .opt_str("rt", self.refresh_token.as_deref())
            .opt_num("by", self.expires_by_s)
            .opt_str("it", self.id_token.as_deref())
            .finish()
    }

    /// Reads stored text; `None` for anything that is not a record of this version.
    pub fn from_json(text: &str) -> Option<Self> {
        Self::from_object(&json::parse_object(text.as_bytes(), "").ok()?)
    }

    /// [`Record::from_json`] from a parsed object.
    pub fn from_object(obj: &Object) -> Option<Self> {
        if obj.get("v")?.as_whole(RECORD_VERSION)? != RECORD_VERSION {
            return None;
        }
        Some(Self {
            access_token: obj.get("at")?.as_str()?.into(),
            refresh_token: match obj.get("rt") {
                None => None,
                Some(v) => Some(v.as_str()?.into()),
            },
            expires_by_s: match obj.get("by") {
                None => None,
                Some(v) => Some(v.as_numeric_date()?),
            },
            id_token: match obj.get("it") {
                None => None,
                Some(v) => Some(v.as_str()?.into()),
            },
        })
    }
}

/// A message between the tabs of one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A tab signed in (`setSession`).
    Session(Record),
    /// A tab adopted refreshed tokens, or answers [`Message::Hello`] with its session.
    Refreshed(Record),
    /// A tab logged out.
    LoggedOut,
    /// A tab started with a stored session and asks for a newer one.
    Hello,
}

impl Message {
    /// The message as a JSON object.
    pub fn to_json(&self) -> String {
        let (kind, record) = match self {
            Self::Session(r) => ("s", Some(r)),
            Self::Refreshed(r) => ("r", Some(r)),
            Self::LoggedOut => ("o", None),
            Self::Hello => ("h", None),
        };
        let o = Obj::new().str("t", kind);
        match record {
            Some(r) => o.raw("rec", &r.to_json()),
            None => o,
        }
        .finish()
    }

    /// Reads a received message; `None` for anything else.
    pub fn from_value(v: &Value) -> Option<Self> {
        let obj = v.as_object()?;
        let record = || Record::from_object(obj.get("rec")?.as_object()?);
        match obj.get("t")?.as_str()? {
            "s" => Some(Self::Session(record()?)),
            "r" => Some(Self::Refreshed(record()?)),
            "o" => Some(Self::LoggedOut),
            "h" => Some(Self::Hello),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_tampering() {
        let r = Record {
            access_token: "a.b.c".into(),
            refresh_token: Some("r\"x".into()),
            expires_by_s: Some(1_700_000_300),
            id_token: None,
        };
        assert_eq!(Record::from_json(&r.to_json()), Some(r.clone()));
        let bare = Record {
            refresh_token: None,
            expires_by_s: None,
            ..r.clone()
        };
        assert_eq!(Record::from_json(&bare.to_json()), Some(bare));
        for bad in [
            "",
            "{}",
            r#"{"v":1,"at":"x","received":1}"#,
            r#"{"v":2,"at":5}"#,
            r#"{"v":2,"at":"x","by":"soon"}"#,
            r#"{"v":2,"at":"x","rt":1}"#,
        ] {
            assert_eq!(Record::from_json(bad), None, "{bad}");
        }
        for m in [
            Message::Session(r.clone()),
            Message::Refreshed(r),
            Message::LoggedOut,
            Message::Hello,
        ] {
            let v = json::parse(m.to_json().as_bytes(), "").unwrap();
            assert_eq!(Message::from_value(&v), Some(m));
        }
        assert_eq!(Message::from_value(&Value::Null), None);
    }
}
