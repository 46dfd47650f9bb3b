//! `persist`: the session record in `sessionStorage` / `localStorage`, or in memory. Storage
//! that is missing or throws (private mode, quota, `SecurityError`) degrades to memory: the
//! session goes on, it only does not survive a reload.

#[allow(unused_imports)]
use crate::prelude::*;

use wasm_bindgen::JsCast;
use web_sys::Storage;

use super::env::global_property;
use crate::options::Persist;

/// Where the record lives.
pub struct Store {
    kind: Persist,
    key: String,
    memory: Option<String>,
}

impl Store {
    /// A store for `kind` under `key`.
    pub fn new(kind: Persist, key: String) -> Self {
        Self {
            kind,
            key,
            memory: None,
        }
    }

    fn storage(&self) -> Option<Storage> {
        let name = match self.kind {
            Persist::Memory => return None,
            Persist::Session => "sessionStorage",
            Persist::Local => "localStorage",
        };
        global_property(name)?.dyn_into::<Storage>().ok()
    }

    /// The stored record text, if any.
    pub fn load(&self) -> Option<String> {
        match self.storage() {
            Some(s) => s
                .get_item(&self.key)
                .ok()
                .flatten()
                .or_else(|| self.memory.clone()),
            None => self.memory.clone(),
        }
    }

    /// Stores `text`; where storage refuses, keeps it in memory.
    pub fn save(&mut self, text: String) {
        if self.kind == Persist::Memory {
            return; // the session machine holds the tokens already
        }
        if let Some(s) = self.storage() {
            if s.set_item(&self.key, &text).is_ok() {
                self.memory = None;
                return;
            }
        }
        self.memory = Some(text);
    }

    /// Removes the record everywhere it may be.
    pub fn clear(&mut self) {
        self.memory = None;
        if let Some(s) = self.storage() {
            let _ = s.remove_item(&self.key);
        }
    }
}
