//! In-process agent-token verification against the floor it is built on: `Verifier::verify` of a
//! typical token (parse, alg and kid checks, `verify_strict`, claims, time, audience, scope and a
//! revocation set holding 1,000 tokens and 100 agents) versus raw `ed25519_dalek::VerifyingKey::
//! verify_strict` of the same signing input, one thread, same run. The issue's target: verify at
//! least 80% of raw throughput. After criterion's figures, interleaved rounds of both print the ratio.
//! `verifier_verify_seen_before` is the same call on a verifier with a cache of authentic tokens
//! (what the gateway runs) for a token it has verified before: the signature check is skipped.
//!
//! `cargo bench -p latchkey-tokens --bench verify` (or `make bench`)

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_tokens::{Claims, KeyRing, Requirements, RevocationSet, Verifier, issue, new_jti};

const NOW: i64 = 1_782_914_400;
const TARGET_RATIO: f64 = 0.80;

struct Setup {
    token: String,
    verifier: Verifier,
    caching_verifier: Verifier,
    required_scope: Vec<String>,
    public: ed25519_dalek::VerifyingKey,
    signing_input: Vec<u8>,
    signature: ed25519_dalek::Signature,
}

fn setup() -> Setup {
    let ring = KeyRing::with_new_key(NOW);
    let claims = Claims {
        iss: "https://latchkey.example".into(),
        sub: "agent_7m2kq9x4rt5vbn3c".into(),
        aud: "billing".into(),
        scope: vec!["secrets.read".into(), "db.*".into()],
        exp: NOW + 300,
        iat: NOW,
        nbf: NOW,
        jti: new_jti(),
        account: "acct_h8w2m4k6p0z3y7d1".into(),
        intent: Some("nightly invoice run".into()),
        act: None,
    };
    let token = issue(&ring, &claims, NOW).expect("the ring has an active key");
    let revocations = Arc::new(RevocationSet::new());
    for i in 0..1_000 {
        revocations.revoke_token(format!("tok_revoked{i:05}"), NOW + 300);
    }
    for i in 0..100 {
        revocations.revoke_agent(format!("agent_revoked{i:03}"), NOW);
    }
    let verifier = Verifier::from_key_ring(&ring, NOW, revocations);
    let caching_verifier = verifier.clone().with_cache(50_000);
    let (signing_input, signature) = token.rsplit_once('.').expect("three parts");
    let signature_bytes: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("base64url")
        .try_into()
        .expect("64 bytes");
    Setup {
        public: *ring.active_signer(NOW).expect("active").verifying_key(),
        signing_input: signing_input.as_bytes().to_vec(),
        signature: ed25519_dalek::Signature::from_bytes(&signature_bytes),
        token,
        verifier,
        caching_verifier,
        required_scope: vec!["db.write".into()],
    }
}

impl Setup {
    fn verify(&self) -> Claims {
        self.verify_with(&self.verifier)
    }

    fn verify_with(&self, verifier: &Verifier) -> Claims {
        let requirements = Requirements {
            audience: Some("billing"),
            scope: &self.required_scope,
        };
        verifier
            .verify(black_box(&self.token), &requirements, NOW)
            .expect("a valid token")
    }

    fn raw(&self) {
        self.public
            .verify_strict(black_box(&self.signing_input), black_box(&self.signature))
            .expect("a valid signature");
    }
}

fn criterion_figures(c: &mut Criterion) {
    let setup = setup();
    let mut group = c.benchmark_group("agent_token_verify");
    group.bench_function("raw_verify_strict", |b| b.iter(|| setup.raw()));
    group.bench_function("verifier_verify", |b| b.iter(|| setup.verify()));
    group.bench_function("verifier_verify_seen_before", |b| {
        b.iter(|| setup.verify_with(&setup.caching_verifier))
    });
    group.finish();
}

/// Alternating rounds of both, so drift in machine load hits them equally; the medians decide.
fn interleaved_ratio(_: &mut Criterion) {
    const ROUNDS: usize = 15;
    const PER_ROUND: u32 = 2_000;
    let setup = setup();
    let time = |work: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            work();
        }
        start.elapsed() / PER_ROUND
    };
    let (mut raw, mut full) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
    for _ in 0..ROUNDS {
        raw.push(time(&|| setup.raw()));
        full.push(time(&|| {
            black_box(setup.verify());
        }));
    }
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (raw, full) = (median(&mut raw), median(&mut full));
    let per_second = |per_op: Duration| 1.0 / per_op.as_secs_f64();
    let ratio = per_second(full) / per_second(raw);
    println!("\nagent-token verify, one thread, {ROUNDS} interleaved rounds of {PER_ROUND}, medians:");
    println!(
        "  raw ed25519 verify_strict: {raw:>10.2?}/op  {:>9.0} ops/s",
        per_second(raw)
    );
    println!(
        "  Verifier::verify:          {full:>10.2?}/op  {:>9.0} ops/s",
        per_second(full)
    );
    println!(
        "  ratio: {:.1}% of raw throughput (target >= {:.0}%): {}",
        ratio * 100.0,
        TARGET_RATIO * 100.0,
        if ratio >= TARGET_RATIO { "met" } else { "NOT met" }
    );
}

criterion_group!(benches, criterion_figures, interleaved_ratio);
criterion_main!(benches);
