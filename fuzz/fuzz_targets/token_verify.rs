//! Agent tokens (`latchkey_tokens`): `Verifier::verify` with a real key ring on any text, on any
//! header and payload genuinely signed by that ring's key (then edited), and on tokens issued from
//! fuzz-made claims, which must verify to exactly those claims.
//!
//! Input: a mode byte, then
//! - `0` (mod 3): the token text;
//! - `1`: a JOSE header, `\n`, a payload, and optionally `\n` and edits (pairs of bytes: position,
//!   replacement), all signed with the ring's key; an edited token must never verify;
//! - `2`: bytes for `arbitrary` to build claims, a clock and requirements from.
#![no_main]

use std::sync::{Arc, LazyLock};

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use latchkey_tokens::{
    Actor, Claims, DEFAULT_LEEWAY_SECS, Invalid, KeyRing, KeySchedule, Requirements, RevocationSet, SigningKey,
    Verifier, issue,
};
use libfuzzer_sys::fuzz_target;

/// The verifiers' clock (2026-07-01T14:00:00Z), as in the crate's own tests.
const NOW: i64 = 1_782_914_400;
/// A fixed key, so a crash reproduces and seeds stay valid.
const SEED: [u8; 32] = [7; 32];

struct Fixture {
    ring: KeyRing,
    dalek: ed25519_dalek::SigningKey,
    kid: String,
    /// Verifies with no cache, and knows some revocations.
    plain: Verifier,
    /// The same keys and revocations, with a cache of authentic tokens.
    cached: Verifier,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = SigningKey::from_secret_bytes(&SEED, KeySchedule::new(NOW - 60, NOW - 60)).expect("a 32-byte seed");
    let kid = key.kid().to_owned();
    let ring = KeyRing::from_keys([key]);
    let revocations = Arc::new(RevocationSet::new());
    revocations.revoke_token("tok_revoked", NOW + 300);
    revocations.revoke_agent("agent_revoked", NOW);
    let plain = Verifier::from_key_ring(&ring, NOW, revocations.clone());
    let cached = Verifier::from_key_ring(&ring, NOW, revocations).with_cache(64);
    Fixture {
        ring,
        dalek: ed25519_dalek::SigningKey::from_bytes(&SEED),
        kid,
        plain,
        cached,
    }
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let _ = check_text(&String::from_utf8_lossy(rest));
        }
        1 => {
            let _ = signed(rest);
        }
        _ => {
            let _ = round_trip(&mut Unstructured::new(rest));
        }
    }
});

/// Every verifier agrees on `token`; an accepted token is in the one textual form its bytes have.
fn check_text(token: &str) -> Result<Claims, Invalid> {
    let fixture = &*FIXTURE;
    let required = ["secrets.read".to_owned()];
    let strict = Requirements {
        audience: Some("billing"),
        scope: &required,
    };
    for requirements in [Requirements::default(), strict] {
        let plain = fixture.plain.verify(token, &requirements, NOW);
        let cached = fixture.cached.verify(token, &requirements, NOW);
        let again = fixture.cached.verify(token, &requirements, NOW);
        assert_eq!(plain, cached, "the cached verifier disagrees on {token:?}");
        assert_eq!(cached, again, "the cache changed its answer on {token:?}");
    }
    let verdict = fixture.plain.verify(token, &Requirements::default(), NOW);
    if let Ok(claims) = &verdict {
        assert_eq!(fixture.plain.claims_of_signed(token).as_ref(), Some(claims));
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "an accepted token is not three parts: {token:?}");
        for part in parts {
            let bytes = URL_SAFE_NO_PAD.decode(part).expect("an accepted part decodes");
            assert_eq!(
                URL_SAFE_NO_PAD.encode(bytes),
                part,
                "an accepted part is not canonical base64url"
            );
        }
    }
    verdict
}

/// A header and payload of the fuzzer's, signed with the ring's key; then the fuzzer's edits.
fn signed(input: &[u8]) -> Option<()> {
    let fixture = &*FIXTURE;
    let mut parts = input.splitn(3, |&b| b == b'\n');
    let header = parts.next()?;
    let payload = parts.next()?;
    let edits = parts.next().unwrap_or_default();
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(payload));
    let signature = fixture.dalek.sign(signing_input.as_bytes());
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    let verdict = check_text(&token);
    if let Ok(claims) = &verdict {
        let written: Claims = serde_json::from_slice(payload).expect("an accepted payload is claims JSON");
        assert_eq!(&written, claims);
        let header: serde_json::Value = serde_json::from_slice(header).expect("an accepted header is JSON");
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["kid"], fixture.kid.as_str());
    }
    // Any edit makes another text; no other text of a genuine token may verify.
    const TOKEN_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/";
    let mut edited = token.clone().into_bytes();
    for edit in edits.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % edited.len();
        edited[at] = TOKEN_CHARS[usize::from(edit[2]) % TOKEN_CHARS.len()];
    }
    let edited = String::from_utf8(edited).expect("ASCII edits of an ASCII token");
    if edited != token {
        let answer = check_text(&edited);
        assert!(answer.is_err(), "an edited token verified: {token:?} → {edited:?}");
    }
    Some(())
}

/// Claims as the fuzzer makes them: any text, any times, an actor chain a few links deep.
#[derive(Arbitrary, Debug)]
struct Case {
    iss: String,
    sub: String,
    aud: String,
    scope: Vec<String>,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    account: String,
    intent: Option<String>,
    actors: Vec<(String, Option<String>)>,
    /// Seconds after the key's activation the verifier's clock reads (a realistic clock).
    clock: u32,
}

/// Issues the fuzzer's claims and verifies the token: the same claims come back unless the time
/// window, or a revocation the fixture holds, says otherwise, and the claims' own audience and
/// valid scopes are always accepted as requirements.
fn round_trip(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let fixture = &*FIXTURE;
    let case = Case::arbitrary(u)?;
    let act = case.actors.into_iter().take(4).rev().fold(None, |act, (sub, jti)| {
        Some(Actor {
            sub,
            jti,
            act: act.map(Box::new),
        })
    });
    let claims = Claims {
        iss: case.iss,
        sub: case.sub,
        aud: case.aud,
        scope: case.scope,
        exp: case.exp,
        iat: case.iat,
        nbf: case.nbf,
        jti: case.jti,
        account: case.account,
        intent: case.intent,
        act,
    };
    let now = NOW - 60 + i64::from(case.clock);
    let Ok(token) = issue(&fixture.ring, &claims, now) else {
        return Ok(());
    };
    let verifier = Verifier::from_key_ring(&fixture.ring, now, Arc::new(RevocationSet::new()));
    let expected = if now + DEFAULT_LEEWAY_SECS < claims.nbf {
        Err(Invalid::NotYetValid)
    } else if now >= claims.exp.saturating_add(DEFAULT_LEEWAY_SECS) {
        Err(Invalid::Expired)
    } else {
        Ok(claims.clone())
    };
    assert_eq!(
        verifier.verify(&token, &Requirements::default(), now),
        expected,
        "issued {claims:?}"
    );
    if expected.is_ok() {
        let valid: Vec<String> = claims
            .scope
            .iter()
            .filter(|scope| latchkey_tokens::scope::check_scope(scope).is_ok())
            .cloned()
            .collect();
        let own = Requirements {
            audience: Some(&claims.aud),
            scope: &valid,
        };
        assert_eq!(
            verifier.verify(&token, &own, now),
            expected,
            "its own audience and scopes"
        );
    }
    Ok(())
}
