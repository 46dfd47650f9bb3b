//! The refresh request over `fetch`, with a timeout through `AbortController`.

#[allow(unused_imports)]
use crate::prelude::*;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, Request, RequestCredentials, RequestInit, Response};

use super::timer::Timeout;
use crate::options::RefreshOptions;
use crate::refresh;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> Promise;
}

/// What came back from the network, before any interpretation.
pub enum Answer {
    /// An HTTP response.
    Response {
        /// Its status.
        status: u16,
        /// `Retry-After`.
        retry_after: Option<String>,
        /// `Date`, in seconds, when readable (CORS needs `Access-Control-Expose-Headers`).
        date_s: Option<u64>,
        /// The body text.
        body: String,
    },
    /// No response: offline, DNS, CORS refusal, connection reset.
    Network,
    /// No response within `timeoutMs`.
    Timeout,
    /// Aborted because the session no longer wants it.
    Cancelled,
}

/// One refresh request in flight; [`InFlight::cancel`] aborts it.
pub struct InFlight {
    controller: AbortController,
}

impl InFlight {
    /// Aborts the request; its answer becomes [`Answer::Cancelled`].
    pub fn cancel(&self) {
        self.controller.abort();
    }
}

/// Starts the refresh request; the returned future gives its [`Answer`].
pub fn send(
    opts: &RefreshOptions,
    refresh_token: Option<&str>,
) -> Option<(InFlight, impl core::future::Future<Output = Answer>)> {
    let controller = AbortController::new().ok()?;
    let body = refresh::request(opts.style, refresh_token, opts.client_id.as_deref());
    let headers = Headers::new().ok()?;
    headers.set("Content-Type", body.content_type).ok()?;
    headers.set("Accept", "application/json").ok()?;
    for (name, value) in &opts.headers {
        headers.set(name, value).ok()?;
    }
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&body.body));
    init.set_signal(Some(&controller.signal()));
    init.set_credentials(if body.with_credentials {
        RequestCredentials::Include
    } else {
        RequestCredentials::SameOrigin
    });
    init.set_cache(web_sys::RequestCache::NoStore);
    let request = Request::new_with_str_and_init(&opts.url, &init).ok()?;
    let timeout_ms = opts.timeout_ms;
    let signal_controller = controller.clone();
    let future = async move {
        let timed_out = alloc::rc::Rc::new(core::cell::Cell::new(false));
        let flag = timed_out.clone();
        let _timer = Timeout::new(timeout_ms, move || {
            flag.set(true);
            signal_controller.abort();
        });
        let result = exchange(&request).await;
        let aborted = request.signal().aborted();
        match result {
            Some(answer) => answer,
            None if timed_out.get() => Answer::Timeout,
            None if aborted => Answer::Cancelled,
            None => Answer::Network,
        }
    };
    Some((InFlight { controller }, future))
}

/// fetch + read the body; `None` when either fails (network error or abort).
async fn exchange(request: &Request) -> Option<Answer> {
    let response: Response = JsFuture::from(global_fetch(request))
        .await
        .ok()?
        .dyn_into()
        .ok()?;
    let headers = response.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let text = response.text().ok()?;
    let body = JsFuture::from(text).await.ok()?.as_string()?;
    Some(Answer::Response {
        status: response.status(),
        retry_after: header("Retry-After"),
        date_s: header("Date").and_then(|d| refresh::parse_http_date(&d)),
        body,
    })
}
