//! PyJWT, the independent JWT library of the certificate stories: tests/jwt_peer/sign.py signs
//! with a certificate's private key as a client would, and verifies with the public key and the
//! JWKS Latchkey publishes as a third party would. Installed on first use by
//! tests/jwt_peer/install.sh into a cache outside the repository.

use std::{path::PathBuf, process::Stdio};

use serde_json::{Value, json};
use tokio::{io::AsyncWriteExt, process::Command};

fn install() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/jwt_peer/install.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .output()
        .expect("run tests/jwt_peer/install.sh");
    assert!(
        output.status.success(),
        "installing PyJWT failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// Runs `requests` (see sign.py) through one PyJWT process and answers its answers, in order.
pub async fn run(requests: &[Value]) -> Vec<Value> {
    let dir = tokio::task::spawn_blocking(install).await.expect("install");
    let mut child = Command::new(dir.join("venv/bin/python"))
        .arg("sign.py")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start sign.py");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(&serde_json::to_vec(requests).expect("JSON"))
        .await
        .expect("write the requests");
    drop(stdin);
    let output = child.wait_with_output().await.expect("sign.py ends");
    assert!(
        output.status.success(),
        "sign.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("sign.py answers JSON")
}

/// The one token PyJWT makes for `request` (a `sign` or `hs256` request).
pub async fn run_one(request: Value) -> String {
    token(&run(&[request]).await[0])
}

/// A JWT PyJWT signs with `private_key` as `algorithm`, with `headers` and `claims`.
pub fn sign(private_key: &str, algorithm: &str, headers: Value, claims: Value) -> Value {
    json!({"op": "sign", "key": private_key, "algorithm": algorithm, "headers": headers, "claims": claims})
}

/// An HS256 JWT keyed with `secret` (the public key PEM: the alg-confusion attack).
pub fn hs256(secret: &str, headers: Value, claims: Value) -> Value {
    json!({"op": "hs256", "secret": secret, "headers": headers, "claims": claims})
}

/// PyJWT's verdict on `token` with `key` (a PEM or a JWK) for `algorithm` and `audience`.
pub fn verify(key: Value, algorithm: &str, token: &str, audience: &str) -> Value {
    json!({"op": "verify", "key": key, "algorithm": algorithm, "token": token, "audience": audience})
}

/// The one token a `sign` or `hs256` answer holds.
pub fn token(answer: &Value) -> String {
    answer["token"].as_str().expect("a token").to_owned()
}
