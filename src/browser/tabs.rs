//! `crossTab`: the tabs of one origin and one configuration share one session over a
//! `BroadcastChannel`: a session started, tokens refreshed, a logout. Each message carries the
//! same record as storage; the receiving tab verifies the token before its machine sees it.
//! Where `BroadcastChannel` is missing (old browsers, Node), each tab keeps its own session.

#[allow(unused_imports)]
use crate::prelude::*;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent};

use crate::options::Record;

/// A message between tabs.
pub enum Message {
    /// A tab signed in (`setSession`).
    Session(Record),
    /// A tab adopted refreshed tokens.
    Refreshed(Record),
    /// A tab logged out.
    LoggedOut,
}

impl Message {
    fn to_json(&self) -> String {
        let (kind, record) = match self {
            Self::Session(r) => ("s", Some(r)),
            Self::Refreshed(r) => ("r", Some(r)),
            Self::LoggedOut => ("o", None),
        };
        let mut s = String::from("{\"t\":\"");
        s.push_str(kind);
        s.push('"');
        if let Some(r) = record {
            s.push_str(",\"rec\":");
            s.push_str(&r.to_json());
        }
        s.push('}');
        s
    }

    fn from_json(text: &str) -> Option<Self> {
        let obj = crate::json::parse_object(text.as_bytes(), "").ok()?;
        let record = || Record::from_object(obj.get("rec")?.as_object()?);
        match obj.get("t")?.as_str()? {
            "s" => Some(Self::Session(record()?)),
            "r" => Some(Self::Refreshed(record()?)),
            "o" => Some(Self::LoggedOut),
            _ => None,
        }
    }
}

/// The channel to the other tabs; closed when dropped.
pub struct Tabs {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Tabs {
    /// Joins the channel `name`; `None` where there is no BroadcastChannel.
    pub fn join(name: &str, mut on_message: impl FnMut(Message) + 'static) -> Option<Self> {
        super::env::global_property("BroadcastChannel")?;
        let channel = BroadcastChannel::new(name).ok()?;
        let callback = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(message) = event
                .data()
                .as_string()
                .as_deref()
                .and_then(Message::from_json)
            {
                on_message(message);
            }
        });
        channel.set_onmessage(Some(callback.as_ref().unchecked_ref()));
        Some(Self {
            channel,
            _on_message: callback,
        })
    }

    /// Tells the other tabs.
    pub fn post(&self, message: &Message) {
        let _ = self
            .channel
            .post_message(&JsValue::from_str(&message.to_json()));
    }
}

impl Drop for Tabs {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
