//! The global scope, read through `globalThis` so the same code runs in a window, a Web Worker
//! and Node: the clocks, and the wake-up events (each listener removed when dropped).

use js_sys::{Function, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::EventTarget;

use crate::session::Now;

/// Both clocks: `Date.now()` and, where it exists, `performance.now()`.
pub fn now() -> Now {
    let wall_ms = js_sys::Date::now() as u64;
    let monotonic_ms = Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .filter(|p| p.is_object())
        .and_then(|p| {
            let now = Reflect::get(&p, &"now".into())
                .ok()?
                .dyn_into::<Function>()
                .ok()?;
            now.call0(&p).ok()?.as_f64()
        })
        .filter(|m| m.is_finite() && *m >= 0.0)
        .map(|m| m as u64);
    Now {
        wall_ms,
        monotonic_ms,
    }
}

/// The wake-up events: a tab coming back (`visibilitychange`, `pageshow`, `focus`) or the
/// network (`online`). Where the global scope is no EventTarget (Node), there are none.
pub const WAKE_EVENTS: [&str; 4] = ["visibilitychange", "pageshow", "focus", "online"];

/// An event listener on the global scope, removed when dropped.
pub struct Listener {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut()>,
}

impl Listener {
    /// Listens for `kind` on the global scope; `None` where there is no event target.
    pub fn global(kind: &'static str, f: impl FnMut() + 'static) -> Option<Self> {
        let target = js_sys::global().dyn_into::<EventTarget>().ok()?;
        let callback = Closure::<dyn FnMut()>::new(f);
        target
            .add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref())
            .ok()?;
        Some(Self {
            target,
            kind,
            callback,
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}

/// A random seed for the retry jitter.
pub fn seed() -> u64 {
    (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64
        ^ (js_sys::Date::now() as u64).rotate_left(17)
}

/// Reads a global property that may be missing or throw (`localStorage` under a strict
/// cookie policy throws `SecurityError`).
pub fn global_property(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}
