//! Structure-aware: a fixture token that verifies, with its key set and options, is edited
//! (decoded header/payload/signature bytes, JSON members, the r/s scalars, the encoded text,
//! segments spliced from other fixture tokens) and verified again.
//!
//! Invariants:
//! - never panics; every failure carries a verification error code;
//! - the original token and its high-S twin `r || n - s` (the one other valid ES256 signature
//!   of the same message by the same key) MUST verify;
//! - nothing else verifies, except another token of the fixture file or its twin (edits can
//!   splice all three segments of one): an edit cannot make a signature valid;
//! - the same holds for refusals from the claim stage (`expired`, `not_yet_valid`,
//!   `claim_mismatch`, claim-type `malformed`), which come only after the signature verified;
//! - with `header.payload` unchanged, any other strictly encoded 64-byte signature is
//!   `bad_signature`.
#![no_main]

use jwt_keeper::{verify, ErrorCode};
use jwt_keeper_fuzz::{high_s_twin, lenient_decode, ref_b64url, ref_encode, sub256, P256_N, FIXTURES, STD_ALPHABET};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const CLAIM_STAGE_MALFORMED: [&str; 3] = [
    "exp, nbf and iat must be non-negative numbers",
    "iss must be a string",
    "aud must be a string or a non-empty array of strings",
];

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Seg {
    Header,
    Payload,
    Signature,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum JsonSeg {
    Header,
    Payload,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Name {
    Alg,
    Kid,
    Typ,
    Crit,
    B64,
    Jwk,
    Exp,
    Nbf,
    Iat,
    Iss,
    Aud,
    Sub,
}

impl Name {
    fn as_str(self) -> &'static str {
        match self {
            Name::Alg => "alg",
            Name::Kid => "kid",
            Name::Typ => "typ",
            Name::Crit => "crit",
            Name::B64 => "b64",
            Name::Jwk => "jwk",
            Name::Exp => "exp",
            Name::Nbf => "nbf",
            Name::Iat => "iat",
            Name::Iss => "iss",
            Name::Aud => "aud",
            Name::Sub => "sub",
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Alg(u8),
    StrArray(Vec<String>),
    Raw(String),
}

impl Json {
    fn text(&self) -> String {
        const ALGS: [&str; 8] = ["ES256", "none", "HS256", "es256", "ES256 ", "ES384", "RS256", "ES256\u{0}"];
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Int(i) => i.to_string(),
            Json::Float(f) => serde_json::to_string(f).unwrap_or_else(|_| "1e400".into()),
            Json::Str(s) => serde_json::to_string(s).expect("string"),
            Json::Alg(i) => serde_json::to_string(ALGS[usize::from(*i) % ALGS.len()]).expect("string"),
            Json::StrArray(v) => serde_json::to_string(v).expect("strings"),
            Json::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Scalar {
    Keep,
    Zero,
    One,
    NMinus1,
    N,
    NPlus1,
    Max,
    Negate,
    Bytes([u8; 32]),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Form {
    Padded,
    Standard,
    StrayBits,
    Space(u8),
}

#[derive(Arbitrary, Debug, Clone)]
enum Edit {
    FlipBit { seg: Seg, pos: u16, bit: u8 },
    SetByte { seg: Seg, pos: u16, value: u8 },
    Insert { seg: Seg, pos: u16, bytes: Vec<u8> },
    Delete { seg: Seg, pos: u16, len: u8 },
    Truncate { seg: Seg, len: u16 },
    Replace { seg: Seg, bytes: Vec<u8> },
    AddMember { seg: JsonSeg, name: Name, value: Json, first: bool },
    SetMember { seg: JsonSeg, name: Name, value: Json },
    RemoveMember { seg: JsonSeg, name: Name },
    HighS,
    SwapRS,
    SetScalars { r: Scalar, s: Scalar },
    Splice { seg: Seg, case: u8 },
    Reencode { seg: Seg, form: Form },
    RawInsert { seg: Seg, pos: u16, text: String },
    RawDelete { seg: Seg, pos: u16, len: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    case: u8,
    edits: Vec<Edit>,
}

fn index(seg: Seg) -> usize {
    match seg {
        Seg::Header => 0,
        Seg::Payload => 1,
        Seg::Signature => 2,
    }
}

fn json_index(seg: JsonSeg) -> usize {
    match seg {
        JsonSeg::Header => 0,
        JsonSeg::Payload => 1,
    }
}

fn at(pos: u16, len: usize) -> usize {
    usize::from(pos) % (len + 1)
}

fn char_floor(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn scalar(which: Scalar, current: &[u8]) -> Vec<u8> {
    let mut n_plus_1 = P256_N;
    n_plus_1[31] += 1; // n ends in 0x51: no carry
    let mut one = [0u8; 32];
    one[31] = 1;
    match which {
        Scalar::Keep => current.to_vec(),
        Scalar::Zero => vec![0; 32],
        Scalar::One => one.to_vec(),
        Scalar::NMinus1 => sub256(&P256_N, &one).to_vec(),
        Scalar::N => P256_N.to_vec(),
        Scalar::NPlus1 => n_plus_1.to_vec(),
        Scalar::Max => vec![0xff; 32],
        Scalar::Negate => match <[u8; 32]>::try_from(current) {
            Ok(c) => sub256(&P256_N, &c).to_vec(),
            Err(_) => current.to_vec(),
        },
        Scalar::Bytes(b) => b.to_vec(),
    }
}

/// Applies one edit to the three encoded segments.
fn apply(segs: &mut [String; 3], edit: &Edit) {
    let decoded = |segs: &[String; 3], seg: Seg| lenient_decode(&segs[index(seg)]);
    match edit {
        Edit::FlipBit { seg, pos, bit } => {
            let mut b = decoded(segs, *seg);
            if !b.is_empty() {
                let i = usize::from(*pos) % b.len();
                b[i] ^= 1 << (bit % 8);
            }
            segs[index(*seg)] = ref_b64url(&b);
        }
        Edit::SetByte { seg, pos, value } => {
            let mut b = decoded(segs, *seg);
            if !b.is_empty() {
                let i = usize::from(*pos) % b.len();
                b[i] = *value;
            }
            segs[index(*seg)] = ref_b64url(&b);
        }
        Edit::Insert { seg, pos, bytes } => {
            let mut b = decoded(segs, *seg);
            let i = at(*pos, b.len());
            b.splice(i..i, bytes.iter().copied());
            segs[index(*seg)] = ref_b64url(&b);
        }
        Edit::Delete { seg, pos, len } => {
            let mut b = decoded(segs, *seg);
            let i = at(*pos, b.len());
            let end = (i + usize::from(*len)).min(b.len());
            b.drain(i..end);
            segs[index(*seg)] = ref_b64url(&b);
        }
        Edit::Truncate { seg, len } => {
            let mut b = decoded(segs, *seg);
            b.truncate(usize::from(*len));
            segs[index(*seg)] = ref_b64url(&b);
        }
        Edit::Replace { seg, bytes } => segs[index(*seg)] = ref_b64url(bytes),
        Edit::AddMember { seg, name, value, first } => {
            let i = json_index(*seg);
            let text = String::from_utf8_lossy(&lenient_decode(&segs[i])).into_owned();
            let member = format!("\"{}\":{}", name.as_str(), value.text());
            let edited = if *first {
                match text.find('{') {
                    Some(at) if text[at + 1..].trim_start().starts_with('}') => {
                        format!("{}{}{}", &text[..=at], member, &text[at + 1..])
                    }
                    Some(at) => format!("{}{},{}", &text[..=at], member, &text[at + 1..]),
                    None => text,
                }
            } else {
                match text.rfind('}') {
                    Some(at) if text[..at].trim_end().ends_with('{') => {
                        format!("{}{}{}", &text[..at], member, &text[at..])
                    }
                    Some(at) => format!("{},{}{}", &text[..at], member, &text[at..]),
                    None => text,
                }
            };
            segs[i] = ref_b64url(edited.as_bytes());
        }
        Edit::SetMember { seg, name, value } => {
            let i = json_index(*seg);
            if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(&lenient_decode(&segs[i])) {
                let v = serde_json::from_str(&value.text()).unwrap_or(serde_json::Value::Null);
                map.insert(name.as_str().to_string(), v);
                segs[i] = ref_b64url(serde_json::Value::Object(map).to_string().as_bytes());
            }
        }
        Edit::RemoveMember { seg, name } => {
            let i = json_index(*seg);
            if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(&lenient_decode(&segs[i])) {
                map.remove(name.as_str());
                segs[i] = ref_b64url(serde_json::Value::Object(map).to_string().as_bytes());
            }
        }
        Edit::HighS => {
            if let Some(twin) = high_s_twin(&decoded(segs, Seg::Signature)) {
                segs[2] = ref_b64url(&twin);
            }
        }
        Edit::SwapRS => {
            let b = decoded(segs, Seg::Signature);
            if b.len() == 64 {
                let (r, s) = b.split_at(32);
                segs[2] = ref_b64url(&[s, r].concat());
            }
        }
        Edit::SetScalars { r, s } => {
            let b = decoded(segs, Seg::Signature);
            if b.len() == 64 {
                let (cr, cs) = b.split_at(32);
                segs[2] = ref_b64url(&[scalar(*r, cr), scalar(*s, cs)].concat());
            }
        }
        Edit::Splice { seg, case } => {
            let cases = &FIXTURES.ok;
            let other = &cases[usize::from(*case) % cases.len()].token;
            if let Some(part) = other.split('.').nth(index(*seg)) {
                segs[index(*seg)] = part.to_string();
            }
        }
        Edit::Reencode { seg, form } => {
            let b = decoded(segs, *seg);
            let text = &mut segs[index(*seg)];
            match form {
                Form::Padded => *text = ref_encode(&b, jwt_keeper_fuzz::URL_ALPHABET, true),
                Form::Standard => *text = ref_encode(&b, STD_ALPHABET, false),
                Form::StrayBits => {
                    // Set an unused low bit of the last character, if it has any.
                    if let Some(last) = text.pop() {
                        let alphabet = jwt_keeper_fuzz::URL_ALPHABET;
                        let v = alphabet.iter().position(|&c| char::from(c) == last).unwrap_or(0);
                        text.push(char::from(alphabet[v | 1]));
                    }
                }
                Form::Space(p) => {
                    const SPACES: [char; 5] = [' ', '\n', '\r', '\t', '\u{a0}'];
                    let i = char_floor(text, usize::from(*p) % (text.len() + 1));
                    text.insert(i, SPACES[usize::from(*p) % SPACES.len()]);
                }
            }
        }
        Edit::RawInsert { seg, pos, text } => {
            let s = &mut segs[index(*seg)];
            let i = char_floor(s, at(*pos, s.len()));
            s.insert_str(i, text);
        }
        Edit::RawDelete { seg, pos, len } => {
            let s = &mut segs[index(*seg)];
            let i = char_floor(s, at(*pos, s.len()));
            let end = char_floor(s, (i + usize::from(*len)).min(s.len()));
            s.replace_range(i..end, "");
        }
    }
}

fuzz_target!(|input: Input| {
    let cases = &FIXTURES.ok;
    let case = &cases[usize::from(input.case) % cases.len()];
    let original = case.token.as_str();
    let (orig_signing_input, orig_sig_text) = original.rsplit_once('.').expect("three parts");
    let orig_sig = lenient_decode(orig_sig_text);
    let twin_text = ref_b64url(&high_s_twin(&orig_sig).expect("64-byte fixture signature"));

    let mut parts = original.split('.').map(String::from);
    let mut segs: [String; 3] = [
        parts.next().expect("header"),
        parts.next().expect("payload"),
        parts.next().expect("signature"),
    ];
    for edit in input.edits.iter().take(8) {
        apply(&mut segs, edit);
    }
    let token = segs.join(".");

    let (signing_input, sig_text) = token.rsplit_once('.').expect("joined with dots");
    let same_message = signing_input == orig_signing_input;
    let equivalent = same_message && (sig_text == orig_sig_text || sig_text == twin_text);

    let result = verify(&token, &case.keys, &case.opts);
    if equivalent {
        if let Err(e) = &result {
            panic!("case {:?}: the original or its high-S twin must verify, got {e}", case.name);
        }
        return;
    }
    // Another fixture token (or its twin), spliced together: its result depends on its own
    // claims and the case's options, and was checked above as far as it can be.
    if FIXTURES.signed_tokens.contains(&token) {
        return;
    }
    let e = match &result {
        Ok(_) => panic!("case {:?}: an edited token verified:\n{token}", case.name),
        Err(e) => e,
    };
    assert!(
        matches!(
            e.code(),
            ErrorCode::Malformed
                | ErrorCode::UnsupportedAlg
                | ErrorCode::BadKey
                | ErrorCode::NoMatchingKey
                | ErrorCode::BadSignature
                | ErrorCode::Expired
                | ErrorCode::NotYetValid
                | ErrorCode::ClaimMismatch
        ),
        "unexpected code: {e}"
    );
    let claim_stage = matches!(e.code(), ErrorCode::Expired | ErrorCode::NotYetValid | ErrorCode::ClaimMismatch)
        || (e.code() == ErrorCode::Malformed && CLAIM_STAGE_MALFORMED.contains(&e.message()));
    assert!(!claim_stage, "case {:?}: an edited token passed the signature check ({e}):\n{token}", case.name);
    let strict_64 = jwt_keeper::base64url::decode(sig_text.as_bytes(), "s").is_ok_and(|s| s.len() == 64);
    if same_message && strict_64 && token.len() <= case.opts.max_token_bytes {
        assert_eq!(e.code(), ErrorCode::BadSignature, "case {:?}: {e}", case.name);
    }
});
