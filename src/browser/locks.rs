//! `crossTab` refreshes: one tab at a time, under a Web Lock (`navigator.locks`). The wait is
//! bounded: a lock held by a frozen or closed tab is stolen after the refresh timeout plus
//! [`LOCK_WAIT_SLACK_MS`]. Where Web Locks are missing, refreshes are not coordinated (each
//! tab refreshes for itself; the BroadcastChannel still shares results).

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::boxed::Box;
use alloc::rc::Rc;
use core::cell::RefCell;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::env::global_property;
use super::timer::Timeout;

/// How much longer than a refresh request may take (`refresh.timeoutMs`) a tab waits for the
/// lock before taking it: beyond that, the holder is frozen or gone.
pub const LOCK_WAIT_SLACK_MS: u64 = 5_000;

/// How long the lock is kept after a refresh, so the result (posted on the BroadcastChannel)
/// reaches the other tabs before the next one takes the lock and re-checks.
pub const LOCK_HOLD_AFTER_MS: u64 = 150;

#[wasm_bindgen]
extern "C" {
    type LockManager;
    #[wasm_bindgen(method, js_name = request)]
    fn request(this: &LockManager, name: &str, options: &JsValue, callback: &Function) -> Promise;
}

fn lock_manager() -> Option<LockManager> {
    let navigator = global_property("navigator")?;
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (locks.is_object()).then(|| locks.unchecked_into())
}

/// Runs `body` while holding the lock `name`. `body` gets a `release` function to call when
/// its work is done (the lock is held until then). Waits at most `request_timeout_ms` +
/// [`LOCK_WAIT_SLACK_MS`], then steals the lock. Returns false (and does not run `body`)
/// where there are no Web Locks.
pub fn with_lock(
    name: String,
    request_timeout_ms: u64,
    body: impl FnOnce(Function) + 'static,
) -> bool {
    if lock_manager().is_none() {
        return false;
    }
    let body: Body = Rc::new(RefCell::new(Some(Box::new(body))));
    let controller = web_sys::AbortController::new().ok();
    let waited = request(&name, false, controller.as_ref(), &body);
    let timer = controller.map(|c| {
        Timeout::new(
            request_timeout_ms.saturating_add(LOCK_WAIT_SLACK_MS),
            move || c.abort(),
        )
    });
    wasm_bindgen_futures::spawn_local(async move {
        let granted = wasm_bindgen_futures::JsFuture::from(waited).await.is_ok();
        drop(timer);
        // Not granted in time (or refused): the holder is frozen or gone; take the lock.
        if !granted && body.borrow().is_some() {
            let _ = request(&name, true, None, &body);
        }
    });
    true
}

type Body = Rc<RefCell<Option<Box<dyn FnOnce(Function)>>>>;

fn request(
    name: &str,
    steal: bool,
    controller: Option<&web_sys::AbortController>,
    body: &Body,
) -> Promise {
    let Some(manager) = lock_manager() else {
        return Promise::reject(&JsValue::UNDEFINED);
    };
    let options = Object::new();
    if steal {
        let _ = Reflect::set(&options, &"steal".into(), &JsValue::TRUE);
    } else if let Some(c) = controller {
        let _ = Reflect::set(&options, &"signal".into(), &c.signal());
    }
    let held = body.clone();
    // Runs once the lock is granted; the lock is held until the returned promise settles.
    let callback = Closure::once_into_js(move |_lock: JsValue| -> Promise {
        Promise::new(&mut |release, _| match held.borrow_mut().take() {
            Some(body) => body(release),
            None => {
                let _ = release.call0(&JsValue::UNDEFINED);
            }
        })
    });
    manager.request(name, &options, callback.unchecked_ref())
}

/// Calls `release` after [`LOCK_HOLD_AFTER_MS`].
pub fn release_soon(release: Function) {
    super::timer::after(LOCK_HOLD_AFTER_MS, move || {
        let _ = release.call0(&JsValue::UNDEFINED);
    });
}
