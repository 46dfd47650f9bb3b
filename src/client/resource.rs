//! What `client.fetch` does with a resource server's `401` (pure): read its
//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1) and decide between replaying with the
//! server's DPoP nonce (RFC 9449 §9), refreshing the token and replaying once (RFC 6750 §3.1
//! `invalid_token`), or handing the answer to the app.

#[allow(unused_imports)]
use crate::prelude::*;

/// Longest `WWW-Authenticate` value read; the rest is ignored.
pub const MAX_CHALLENGE_BYTES: usize = 4096;

/// One challenge: its scheme and its `error` parameter, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth-scheme as sent (compare case-insensitively).
    pub scheme: String,
    /// The `error` auth-param (unquoted).
    pub error: Option<String>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The challenges of a `WWW-Authenticate` value: `scheme [token68 | #auth-param]`, separated
/// by commas, parameter values as tokens or quoted strings. Whatever does not parse is skipped.
pub fn challenges(header: &str) -> Vec<Challenge> {
    let bytes = header.as_bytes();
    let bytes = bytes.get(..MAX_CHALLENGE_BYTES).unwrap_or(bytes);
    let mut out: Vec<Challenge> = Vec::new();
    let mut i = 0;
    // Token characters are ASCII: the slice is whole characters of `header`.
    let token = |i: &mut usize| -> String {
        let start = *i;
        while bytes.get(*i).is_some_and(|b| is_tchar(*b)) {
            *i += 1;
        }
        header.get(start..*i).unwrap_or_default().into()
    };
    let skip_space = |i: &mut usize| {
        while matches!(bytes.get(*i), Some(b' ' | b'\t')) {
            *i += 1;
        }
    };
    while i < bytes.len() {
        skip_space(&mut i);
        if bytes.get(i) == Some(&b',') {
            i += 1;
            continue;
        }
        let name = token(&mut i);
        if name.is_empty() {
            i += 1;
            continue;
        }
        skip_space(&mut i);
        if bytes.get(i) != Some(&b'=') {
            out.push(Challenge {
                scheme: name,
                error: None,
            });
            continue;
        }
        i += 1;
        skip_space(&mut i);
        let value = if bytes.get(i) == Some(&b'"') {
            i += 1;
            let mut v = Vec::new();
            while let Some(&b) = bytes.get(i) {
                i += 1;
                match b {
                    b'"' => break,
                    b'\\' => {
                        if let Some(&e) = bytes.get(i) {
                            v.push(e);
                            i += 1;
                        }
                    }
                    b => v.push(b),
                }
            }
            // Whole characters unless the length cap cut one: then no value.
            String::from_utf8(v).unwrap_or_default()
        } else {
            token(&mut i)
        };
        if let Some(last) = out.last_mut() {
            if name.eq_ignore_ascii_case("error") && last.error.is_none() {
                last.error = Some(value);
            }
        }
    }
    out
}

/// What to do with a resource's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Give the answer to the app.
    Done,
    /// Replay with a new proof carrying the nonce the server just sent.
    Nonce,
    /// The token is the problem: refresh (once per cooldown) and replay.
    Refresh,
}

impl Step {
    /// The name the shell reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Nonce => "nonce",
            Self::Refresh => "refresh",
        }
    }
}

/// The step for a `status` answer with `header` (`WWW-Authenticate`): with DPoP, a
/// `DPoP error="use_dpop_nonce"` that came with a usable nonce is replayed once; an
/// `invalid_token` (`Bearer`, or `DPoP` with DPoP) is refreshed and replayed once.
pub fn step(
    status: u16,
    header: Option<&str>,
    dpop: bool,
    nonce_given: bool,
    nonce_done: bool,
    refresh_done: bool,
) -> Step {
    if status != 401 {
        return Step::Done;
    }
    let all = header.map(challenges).unwrap_or_default();
    let says = |scheme: &str, error: &str| {
        all.iter()
            .any(|c| c.scheme.eq_ignore_ascii_case(scheme) && c.error.as_deref() == Some(error))
    };
    if dpop && !nonce_done && nonce_given && says("DPoP", "use_dpop_nonce") {
        return Step::Nonce;
    }
    let invalid = says("Bearer", "invalid_token") || (dpop && says("DPoP", "invalid_token"));
    if invalid && !refresh_done {
        return Step::Refresh;
    }
    Step::Done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(h: &str) -> Vec<(String, Option<String>)> {
        challenges(h)
            .into_iter()
            .map(|c| (c.scheme, c.error))
            .collect()
    }

    #[test]
    fn reads_challenges() {
        assert_eq!(
            parsed(r#"Bearer realm="api", error="invalid_token", error_description="expired""#),
            [("Bearer".into(), Some("invalid_token".into()))]
        );
        assert_eq!(
            parsed(
                r#"DPoP algs="ES256 RS256", error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#
            ),
            [("DPoP".into(), Some("use_dpop_nonce".into()))]
        );
        // Two challenges in one value; a token68 scheme; a token value; escapes.
        assert_eq!(
            parsed(r#"Basic abc==, Bearer error=invalid_token , DPoP error="a\"b", algs=ES256"#),
            [
                ("Basic".into(), None),
                ("Bearer".into(), Some("invalid_token".into())),
                ("DPoP".into(), Some("a\"b".into()))
            ]
        );
        assert_eq!(parsed("  "), []);
        assert_eq!(parsed(r#"error="x""#), []);
        assert_eq!(parsed(r#"Bearer error="unterminated"#).len(), 1);
    }

    #[test]
    fn steps() {
        let nonce = Some(r#"DPoP error="use_dpop_nonce""#);
        let invalid = Some(r#"Bearer error="invalid_token""#);
        let dpop_invalid = Some(r#"DPoP error="invalid_token""#);
        assert_eq!(step(200, nonce, true, true, false, false), Step::Done);
        assert_eq!(step(401, nonce, true, true, false, false), Step::Nonce);
        // Once only; not without the nonce header; not without DPoP.
        assert_eq!(step(401, nonce, true, true, true, false), Step::Done);
        assert_eq!(step(401, nonce, true, false, false, false), Step::Done);
        assert_eq!(step(401, nonce, false, true, false, false), Step::Done);
        assert_eq!(
            step(401, invalid, false, false, false, false),
            Step::Refresh
        );
        assert_eq!(step(401, invalid, false, false, false, true), Step::Done);
        assert_eq!(
            step(401, dpop_invalid, true, false, false, false),
            Step::Refresh
        );
        assert_eq!(
            step(401, dpop_invalid, false, false, false, false),
            Step::Done
        );
        assert_eq!(
            step(
                401,
                Some(r#"Bearer error="insufficient_scope""#),
                false,
                false,
                false,
                false
            ),
            Step::Done
        );
        assert_eq!(step(401, None, true, true, false, false), Step::Done);
        // The rule the shell had: `Bearer … error = "invalid_token"` in any case of the scheme.
        assert_eq!(
            step(
                401,
                Some("bearer error = invalid_token"),
                false,
                false,
                false,
                false
            ),
            Step::Refresh
        );
    }
}
