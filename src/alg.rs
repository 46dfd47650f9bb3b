//! The JWS algorithms this crate verifies (RFC 7518 §3): their names, and which key type each
//! needs. Anything else (`none`, HS*, ES384, …) is never accepted.

/// A supported JWS signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4): a 64-byte `r‖s` signature.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    Rs256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt (RFC 7518 §3.5).
    Ps256,
}

impl Alg {
    /// Every supported algorithm: the default allow-list.
    pub const ALL: [Alg; 3] = [Alg::Es256, Alg::Rs256, Alg::Ps256];

    /// The `alg` header value, e.g. `"RS256"`.
    pub const fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Rs256 => "RS256",
            Alg::Ps256 => "PS256",
        }
    }

    /// The algorithm named exactly `name` (case-sensitive, RFC 7515 §4.1.1), if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether the algorithm needs an RSA key (else a P-256 key).
    pub const fn is_rsa(self) -> bool {
        matches!(self, Alg::Rs256 | Alg::Ps256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_exact() {
        for a in Alg::ALL {
            assert_eq!(Alg::from_name(a.name()), Some(a));
        }
        for bad in [
            "none", "None", "es256", "ES256 ", "HS256", "ES384", "RS384", "PS512", "",
        ] {
            assert_eq!(Alg::from_name(bad), None, "{bad}");
        }
    }
}
