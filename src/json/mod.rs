//! JSON in and out of the core: [`read`] is the strict reader for untrusted text (tokens, keys,
//! answers, storage, messages from other tabs), [`write`] the one writer of every JSON text the
//! core hands out (request bodies, records, messages, effects).

pub mod read;
pub mod write;

pub use read::{parse, parse_object, Object, Value, MAX_DEPTH, MAX_MEMBERS, MAX_NUMERIC_DATE};
pub use write::{array, push_string, push_u64, push_value, Obj};
