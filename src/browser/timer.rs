//! A one-shot timer that is cancelled when dropped, so no callback outlives its owner.

use js_sys::Function;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: i32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// Browsers fire a `setTimeout` longer than 2^31 − 1 ms at once; longer waits are cut to this
/// (the deadline is checked again when the timer fires, so waking early is harmless).
pub const MAX_TIMER_MS: u64 = (1 << 31) - 1;

/// A pending `setTimeout`; dropping it clears the timer and frees the closure.
#[must_use = "dropping a Timeout cancels it"]
pub struct Timeout {
    id: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Timeout {
    /// Calls `f` once after `ms` milliseconds (clamped to [`MAX_TIMER_MS`]).
    pub fn new(ms: u64, f: impl FnOnce() + 'static) -> Self {
        let mut f = Some(f);
        let callback = Closure::<dyn FnMut()>::new(move || {
            if let Some(f) = f.take() {
                f();
            }
        });
        let ms = i32::try_from(ms.min(MAX_TIMER_MS)).unwrap_or(i32::MAX);
        let id = set_timeout(callback.as_ref().unchecked_ref(), ms);
        Self {
            id,
            _callback: callback,
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}

/// Calls `f` once after `ms` milliseconds; not cancellable (the closure is freed once run).
pub fn after(ms: u64, f: impl FnOnce() + 'static) {
    let callback = Closure::once_into_js(f);
    let ms = i32::try_from(ms.min(MAX_TIMER_MS)).unwrap_or(i32::MAX);
    let _ = set_timeout(callback.unchecked_ref(), ms);
}
