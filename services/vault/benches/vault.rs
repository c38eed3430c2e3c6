//! The vault's cryptography on a 4 KiB secret, beside raw AES-256-GCM in the same run:
//!
//! - `raw_aes256gcm/{seal,open}`: the aes-gcm crate alone, fresh random nonce, no AAD;
//! - `envelope/{seal,open}`: what the vault does per secret with an account's (cached) data key —
//!   fresh nonce, the AAD binding account, secret id and version, zeroizing plaintext buffer;
//! - `envelope/unwrap_data_key`: unwrapping a data key under a root key (an uncached account);
//! - `store/{put,get}`: a whole `put_secrets` / `get_secret` on SQLite (validation, transaction,
//!   outbox-less id, row read), for scale.
//!
//! Throughput is reported in bytes and, as elements, in operations per second.
//! `cargo bench -p latchkey-vault --bench vault` (or `make bench`).

use aes_gcm::{
    Aes256Gcm, KeyInit,
    aead::{Aead, Generate, Key, Nonce},
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use latchkey_ids::AccountId;
use latchkey_server::MeshAuth;
use latchkey_storage::Db;
use latchkey_test_support::TestDatabase;
use latchkey_vault::{Keyring, NewSecret, RootKeySource, Vault, envelope::DataKey};
use zeroize::Zeroizing;

const SECRET_BYTES: usize = 4096;

fn secret() -> Vec<u8> {
    (0..SECRET_BYTES).map(|n| (n % 251) as u8).collect()
}

fn raw(c: &mut Criterion) {
    let plaintext = secret();
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::generate());
    let nonce = Nonce::<Aes256Gcm>::generate();
    let sealed = cipher.encrypt(&nonce, plaintext.as_slice()).expect("seal");
    let mut group = c.benchmark_group("raw_aes256gcm");
    group.throughput(Throughput::Bytes(SECRET_BYTES as u64));
    group.bench_function("seal", |b| {
        b.iter(|| {
            let nonce = Nonce::<Aes256Gcm>::generate();
            cipher.encrypt(&nonce, plaintext.as_slice()).expect("seal")
        })
    });
    group.bench_function("open", |b| {
        b.iter(|| cipher.decrypt(&nonce, sealed.as_slice()).expect("open"))
    });
    group.finish();
}

fn envelope(c: &mut Criterion) {
    let plaintext = secret();
    let key = DataKey::generate();
    let sealed = key.seal("acct_bench", "credential/openai", 7, &plaintext);
    let keyring = Keyring::parse("1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("keyring");
    let root = keyring.newest().expect("root key");
    let wrapped = key.wrap(root, "acct_bench");
    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Bytes(SECRET_BYTES as u64));
    group.bench_function("seal", |b| {
        b.iter(|| key.seal("acct_bench", "credential/openai", 7, &plaintext))
    });
    group.bench_function("open", |b| {
        b.iter(|| key.open("acct_bench", "credential/openai", 7, &sealed).expect("open"))
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("unwrap_data_key", |b| {
        b.iter(|| DataKey::unwrap(root, "acct_bench", &wrapped).expect("unwrap"))
    });
    group.finish();
}

fn store(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let key_file = dir.path().join("root.key");
    latchkey_vault::create_key_file(&key_file).expect("key file");
    let database = TestDatabase::sqlite();
    let vault = runtime.block_on(async {
        let db = Db::connect(database.url()).await.expect("db");
        Vault::open(db, RootKeySource::File(key_file), MeshAuth::new("bench-token"))
            .await
            .expect("vault")
    });
    let plaintext = secret();
    let account = AccountId::parse("acct_bench").expect("an account id");
    let put = || NewSecret {
        secret_id: "connection/con_bench".to_owned(),
        plaintext: Zeroizing::new(plaintext.clone()),
        write_only: false,
        expected_version: None,
    };
    runtime
        .block_on(vault.put_secrets(&account, None, vec![put()]))
        .expect("first put");
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    group.bench_function("put", |b| {
        b.iter(|| {
            runtime
                .block_on(vault.put_secrets(&account, None, vec![put()]))
                .expect("put")
        })
    });
    group.bench_function("get", |b| {
        b.iter(|| {
            runtime
                .block_on(vault.get_secret(&account, "connection/con_bench", true))
                .expect("get")
        })
    });
    group.finish();
}

criterion_group!(benches, raw, envelope, store);
criterion_main!(benches);
