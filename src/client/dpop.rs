//! DPoP (RFC 9449): the proofs that bind the client's tokens to a key of this browser.
//!
//! The key pair is the shell's (WebCrypto, non-extractable, kept in IndexedDB); the core gets
//! its public JWK and builds every proof: the header (`typ: dpop+jwt`, `ES256`, the `jwk`),
//! the claims (`jti`, `htm`, `htu`, `iat` on the estimated server clock, `ath` for a resource
//! request, the server's `nonce`), and hands the signing input to the shell, which signs it
//! (RFC 7515: `header.payload`, the signature `r‖s`) and sends the proof in the `DPoP` header.
//! It also keeps the nonces servers gave (`DPoP-Nonce`), one per origin, and the key's RFC 7638
//! thumbprint that a JWT access token's `cnf.jkt` must equal.
//!
//! Built with the `dpop` feature (the core loaded for `dpop: true`); without it, [`Dpop`]
//! cannot be made and the rest of the core carries no DPoP code.

#[allow(unused_imports)]
use crate::prelude::*;

/// Longest nonce kept (RFC 9449 §8.1 sets no limit; a server's nonce is a few dozen bytes).
pub const MAX_NONCE_BYTES: usize = 512;

/// How many servers' nonces are kept (the token endpoint and a few resource servers).
pub const MAX_NONCES: usize = 8;

/// `nonce = 1*NQCHAR` (RFC 9449 §8.1): printable ASCII without `"` and `\`.
pub fn is_nonce(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_NONCE_BYTES
        && text
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// `htu` (RFC 9449 §4.2): the request URL without query and fragment.
pub fn htu(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url.get(..end).unwrap_or(url)
}

/// The origin of an absolute URL (`scheme://authority`), which a server's nonce is for.
pub fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url
        .get(after_scheme..)
        .and_then(|rest| rest.find(['/', '?', '#']))
        .map_or(url.len(), |i| after_scheme + i);
    url.get(..end).unwrap_or(url)
}

#[cfg(feature = "dpop")]
pub use enabled::Dpop;

#[cfg(not(feature = "dpop"))]
pub use disabled::Dpop;

#[cfg(feature = "dpop")]
mod enabled {
    #[allow(unused_imports)]
    use crate::prelude::*;

    use super::{htu, is_nonce, origin, MAX_NONCES};
    use crate::base64url;
    use crate::json::{self, Obj, Value};
    use crate::key::ec::EcKey;
    use crate::sha256::sha256;

    /// The client's DPoP key (its public half) and the servers' nonces.
    #[derive(Debug, Clone)]
    pub struct Dpop {
        /// The public JWK with its required members in lexicographic order (RFC 7638 §3.2):
        /// the proof header's `jwk`, and what the thumbprint is taken of.
        jwk: String,
        /// base64url(SHA-256(jwk)): what `cnf.jkt` must be.
        thumbprint: String,
        /// Random bytes from the shell (`crypto.getRandomValues`): the `jti`s come from them.
        seed: [u8; 32],
        counter: u64,
        /// (origin, nonce), most recent last.
        nonces: Vec<(String, String)>,
    }

    impl Dpop {
        /// The key the shell made: `{"jwk":{"kty":"EC","crv":"P-256","x":…,"y":…},"random":[32
        /// bytes]}` (other JWK members, such as `ext` or `key_ops`, are ignored). `None` when it
        /// is not that.
        pub fn from_value(v: &Value) -> Option<Self> {
            let obj = v.as_object()?;
            let jwk = obj.get("jwk")?.as_object()?;
            if jwk.get("kty")?.as_str()? != "EC" || jwk.get("crv")?.as_str()? != "P-256" {
                return None;
            }
            if jwk.get("d").is_some() {
                // Private key material never goes into a proof.
                return None;
            }
            let coordinate = |name: &str| {
                base64url::decode(jwk.get(name)?.as_str()?.as_bytes(), "jwk coordinate").ok()
            };
            let key = EcKey::from_coordinates(&coordinate("x")?, &coordinate("y")?).ok()?;
            let seed: [u8; 32] = crate::client::random_bytes(obj.get("random")?)
                .try_into()
                .ok()?;
            let jwk = Obj::new()
                .str("crv", "P-256")
                .str("kty", "EC")
                .str("x", &base64url::encode(key.x()))
                .str("y", &base64url::encode(key.y()))
                .finish();
            let thumbprint = base64url::encode(&sha256(jwk.as_bytes()));
            Some(Self {
                jwk,
                thumbprint,
                seed,
                counter: 0,
                nonces: Vec::new(),
            })
        }

        /// The key's RFC 7638 SHA-256 thumbprint (base64url).
        pub fn thumbprint(&self) -> &str {
            &self.thumbprint
        }

        /// The signing input (`header.payload`, base64url) of a proof for `method` `url` at
        /// `iat_s` (the estimated server clock); `access_token` for a resource request (`ath`).
        pub fn proof(
            &mut self,
            method: &str,
            url: &str,
            iat_s: u64,
            access_token: Option<&str>,
        ) -> String {
            self.counter = self.counter.wrapping_add(1);
            let mut block = Vec::with_capacity(40);
            block.extend_from_slice(&self.seed);
            block.extend_from_slice(&self.counter.to_be_bytes());
            let jti = base64url::encode(sha256(&block).get(..16).unwrap_or_default());
            let header = Obj::new()
                .str("typ", "dpop+jwt")
                .str("alg", "ES256")
                .raw("jwk", &self.jwk)
                .finish();
            let claims = Obj::new()
                .str("jti", &jti)
                .str("htm", method)
                .str("htu", htu(url))
                .num("iat", iat_s)
                .opt_str(
                    "ath",
                    access_token
                        .map(|t| base64url::encode(&sha256(t.as_bytes())))
                        .as_deref(),
                )
                .opt_str("nonce", self.nonce(url))
                .finish();
            let mut input = base64url::encode(header.as_bytes());
            input.push('.');
            input.push_str(&base64url::encode(claims.as_bytes()));
            input
        }

        /// The nonce the server of `url` gave last, if any.
        pub fn nonce(&self, url: &str) -> Option<&str> {
            let at = origin(url);
            self.nonces
                .iter()
                .rev()
                .find(|(o, _)| o == at)
                .map(|(_, n)| n.as_str())
        }

        /// A `DPoP-Nonce` the server of `url` sent: used in its next proofs. False (and
        /// ignored) when it is not a nonce or is the one already held.
        pub fn learn_nonce(&mut self, url: &str, nonce: &str) -> bool {
            if !is_nonce(nonce) || self.nonce(url) == Some(nonce) {
                return false;
            }
            let at = origin(url);
            self.nonces.retain(|(o, _)| o != at);
            if self.nonces.len() >= MAX_NONCES {
                self.nonces.remove(0);
            }
            self.nonces.push((at.into(), nonce.into()));
            true
        }

        /// Whether a verified access token's payload is bound to this key: `cnf.jkt` is its
        /// thumbprint (RFC 9449 §6.1).
        pub fn binds(&self, payload: &json::Object) -> bool {
            payload
                .get("cnf")
                .and_then(Value::as_object)
                .and_then(|c| c.get("jkt"))
                .and_then(Value::as_str)
                == Some(self.thumbprint.as_str())
        }
    }
}

#[cfg(not(feature = "dpop"))]
mod disabled {
    #[allow(unused_imports)]
    use crate::prelude::*;

    use crate::json::{self, Value};

    /// Cannot be made: this build has no DPoP (the shell loads the core built with it).
    #[derive(Debug, Clone)]
    pub enum Dpop {}

    #[allow(missing_docs, clippy::unused_self)]
    impl Dpop {
        pub fn from_value(_: &Value) -> Option<Self> {
            None
        }
        pub fn thumbprint(&self) -> &str {
            match *self {}
        }
        pub fn proof(&mut self, _: &str, _: &str, _: u64, _: Option<&str>) -> String {
            match *self {}
        }
        pub fn nonce(&self, _: &str) -> Option<&str> {
            match *self {}
        }
        pub fn learn_nonce(&mut self, _: &str, _: &str) -> bool {
            match *self {}
        }
        pub fn binds(&self, _: &json::Object) -> bool {
            match *self {}
        }
    }
}

#[cfg(test)]
#[cfg(feature = "dpop")]
mod tests {
    use super::*;
    use crate::json::{self, Value};

    /// A P-256 public key (the public half of RFC 7515 Appendix A.3's key) as WebCrypto's
    /// `exportKey('jwk')` gives it, with members the thumbprint ignores.
    const JWK: &str = r#"{"key_ops":["verify"],"ext":true,"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    fn key() -> Dpop {
        let text = alloc::format!(r#"{{"jwk":{JWK},"random":[{}]}}"#, ["7"; 32].join(","));
        Dpop::from_value(&json::parse(text.as_bytes(), "").unwrap()).unwrap()
    }

    #[test]
    fn thumbprint_is_rfc_7638() {
        // jose's calculateJwkThumbprint of the same JWK (an independent implementation).
        assert_eq!(
            key().thumbprint(),
            "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"
        );
    }

    #[test]
    fn proofs_carry_the_claims() {
        let mut d = key();
        let input = d.proof("POST", "https://as.test/token?x=1#f", 1_700_000_000, None);
        let (h, p) = input.split_once('.').unwrap();
        let header =
            json::parse_object(&crate::base64url::decode(h.as_bytes(), "").unwrap(), "").unwrap();
        assert_eq!(header.get("typ").and_then(Value::as_str), Some("dpop+jwt"));
        assert_eq!(header.get("alg").and_then(Value::as_str), Some("ES256"));
        assert!(header.get("jwk").and_then(Value::as_object).is_some());
        let claims =
            json::parse_object(&crate::base64url::decode(p.as_bytes(), "").unwrap(), "").unwrap();
        assert_eq!(claims.get("htm").and_then(Value::as_str), Some("POST"));
        assert_eq!(
            claims.get("htu").and_then(Value::as_str),
            Some("https://as.test/token")
        );
        assert_eq!(
            claims.get("iat").and_then(|v| v.as_whole(u64::MAX)),
            Some(1_700_000_000)
        );
        assert!(claims.get("ath").is_none() && claims.get("nonce").is_none());
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned();
        assert_eq!(jti.len(), 22);
        // RFC 9449 §4.2: ath = base64url(SHA-256(the access token)); a new jti every time;
        // the nonce the server gave.
        assert!(d.learn_nonce("https://api.test/me", "n-1"));
        let second = d.proof("GET", "https://api.test/me", 1, Some("tok"));
        let claims = json::parse_object(
            &crate::base64url::decode(second.split_once('.').unwrap().1.as_bytes(), "").unwrap(),
            "",
        )
        .unwrap();
        assert_eq!(
            claims.get("ath").and_then(Value::as_str),
            Some(crate::base64url::encode(&crate::sha256::sha256(b"tok")).as_str())
        );
        assert_eq!(claims.get("nonce").and_then(Value::as_str), Some("n-1"));
        assert_ne!(
            claims.get("jti").and_then(Value::as_str),
            Some(jti.as_str())
        );
    }

    #[test]
    fn nonces_are_per_origin_and_checked() {
        let mut d = key();
        assert!(d.learn_nonce("https://as.test/token", "a"));
        assert!(!d.learn_nonce("https://as.test/other", "a"));
        assert!(d.learn_nonce("https://api.test:8443/x?y", "b"));
        assert_eq!(d.nonce("https://as.test/anything"), Some("a"));
        assert_eq!(d.nonce("https://api.test:8443/"), Some("b"));
        assert_eq!(d.nonce("https://api.test/"), None);
        for bad in ["", "a b", "q\"", "back\\slash", "\u{e9}"] {
            assert!(!d.learn_nonce("https://as.test/token", bad), "{bad:?}");
        }
        assert!(!d.learn_nonce("https://as.test/", &"n".repeat(MAX_NONCE_BYTES + 1)));
        for i in 0..20 {
            d.learn_nonce(&alloc::format!("https://s{i}.test/"), "x");
        }
        // The oldest servers' nonces are dropped; the newest kept.
        assert_eq!(d.nonce("https://as.test/"), None);
        assert_eq!(d.nonce("https://s19.test/"), Some("x"));
        assert_eq!(
            d.nonce(&alloc::format!("https://s{}.test/", 20 - MAX_NONCES)),
            Some("x")
        );
        assert_eq!(
            d.nonce(&alloc::format!("https://s{}.test/", 19 - MAX_NONCES)),
            None
        );
    }

    #[test]
    fn refuses_what_is_not_a_public_p256_key() {
        let random = ["1"; 32].join(",");
        for jwk in [
            r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#,
            r#"{"kty":"EC","crv":"P-384","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
            r#"{"kty":"EC","crv":"P-256","x":"AA","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
            r#"{"kty":"EC","crv":"P-256","d":"AA","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        ] {
            let text = alloc::format!(r#"{{"jwk":{jwk},"random":[{random}]}}"#);
            assert!(
                Dpop::from_value(&json::parse(text.as_bytes(), "").unwrap()).is_none(),
                "{jwk}"
            );
        }
        let short = alloc::format!(r#"{{"jwk":{JWK},"random":[1,2]}}"#);
        assert!(Dpop::from_value(&json::parse(short.as_bytes(), "").unwrap()).is_none());
    }

    #[test]
    fn htu_and_origin() {
        assert_eq!(htu("https://a.test/p?q#f"), "https://a.test/p");
        assert_eq!(htu("https://a.test/p#f?q"), "https://a.test/p");
        assert_eq!(origin("https://a.test:1/p?q"), "https://a.test:1");
        assert_eq!(origin("http://127.0.0.1:9?x"), "http://127.0.0.1:9");
        assert_eq!(origin("https://a.test"), "https://a.test");
    }
}
