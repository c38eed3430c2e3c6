#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/: a few small valid inputs per target.

Run from anywhere: `python3 fuzz/make_seeds.py` (needs the `cryptography` package, for the tokens and
the checkpoint the seeds sign). Signing is deterministic (Ed25519), so the output is the same on
every run. The keys are the fuzz targets' fixed keys: [7; 32] for agent tokens, [9; 32] for audit
checkpoints; the clock is the targets' NOW.
"""

import base64
import datetime
import hashlib
import json
import pathlib
import random

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"
NOW = 1_782_914_400
GENESIS = "0" * 64


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def canonical(value) -> str:
    """RFC 8785 for the ASCII strings and integers the seeds use."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key(seed: int):
    private = Ed25519PrivateKey.from_private_bytes(bytes([seed] * 32))
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private, public


def write(target: str, name: str, data) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)


def noise(seed: int, length: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(length))


def tokens() -> None:
    private, public = key(7)
    kid = b64url(hashlib.sha256(public).digest()[:8])
    header = json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": kid}, separators=(",", ":"))

    def claims(**changes):
        base = {
            "iss": "https://latchkey.test", "sub": "agent_a1b2c3d4e5f6", "aud": "billing",
            "scope": ["secrets.read", "db.*"], "exp": NOW + 300, "iat": NOW, "nbf": NOW,
            "jti": "tok_seed0000000000000", "account": "acct_7m2k", "intent": "nightly invoice run",
        }
        base.update(changes)
        return json.dumps(base, separators=(",", ":"))

    def token(payload: str, head: str = header) -> str:
        signing_input = f"{b64url(head.encode())}.{b64url(payload.encode())}"
        return f"{signing_input}.{b64url(private.sign(signing_input.encode()))}"

    delegated = claims(sub="agent_b", act={"sub": "agent_a1b2c3d4e5f6", "jti": "tok_parent"})
    write("token_verify", "0-genuine", "0" + token(claims()))
    write("token_verify", "0-delegated", "0" + token(delegated))
    write("token_verify", "0-revoked", "0" + token(claims(jti="tok_revoked")))
    write("token_verify", "0-expired", "0" + token(claims(exp=NOW - 600)))
    write("token_verify", "0-alg-none", "0" + b64url(b'{"alg":"none"}') + "." + b64url(claims().encode()) + ".")
    write("token_verify", "1-signed", "1" + header + "\n" + claims())
    write("token_verify", "1-crit", "1" + header[:-1] + ',"crit":["b64"]}' + "\n" + claims())
    write("token_verify", "1-edited", "1" + header + "\n" + claims() + "\n" + "\x05\x00A")
    write("token_verify", "2-claims", b"2" + noise(1, 160))


def policies() -> None:
    window = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00", "timezone": "+02:00"}
    protect = {
        "name": "protect secrets", "priority": 500,
        "rules": [
            {"match": {"scopes": ["secrets.*"], "owners": ["platform"], "time_windows": [window]}, "effect": "allow"},
            {"match": {"scopes": ["secrets.*"], "model_providers": ["openai"]}, "effect": "require_approval"},
            {"match": {"scopes": ["db.*.write"], "target_services": ["billing", "billing.*"]},
             "effect": {"type": "throttle", "limit": 100, "window_secs": 60, "per": "agent"}},
            {"match": {"scopes": ["secrets.*"]}, "effect": "deny"},
        ],
    }
    catch_all = {"name": "catch all", "description": "night shift", "rules": [
        {"match": {"time_windows": [{"start": "22:00", "end": "06:00"}], "frameworks": ["LangChain"]},
         "effect": {"type": "throttle", "limit": 5, "window_secs": 3600, "per": "policy"}},
        {"effect": "allow"},
    ]}
    request = {"agent_id": "agent_a1", "owner": "platform", "model_provider": "OpenAI",
               "scopes": ["secrets.read", "docs.*"], "target_service": "billing"}
    write("policy_eval", "case-doc-example",
          json.dumps({"policies": [protect, catch_all], "request": request, "now": NOW, "default": "deny"}))
    wildcard = dict(request, scopes=["*"], target_service="any", framework="langchain")
    write("policy_eval", "case-wildcard",
          json.dumps({"policies": [catch_all, protect], "request": wildcard, "now": NOW - 43_200}))
    write("policy_eval", "policy-alone", json.dumps(protect))


def events() -> None:
    def envelope(event_type: str, data: dict, **extra) -> str:
        base = {"specversion": "1.0", "id": "01970000-0000-7000-8000-000000000001", "source": "/latchkey/agent-token",
                "type": event_type, "time": "2026-07-01T14:00:00.123456Z", "account": "acct_7m2k",
                "datacontenttype": "application/json", "data": data}
        base.update(extra)
        return json.dumps(base)

    write("event_envelope", "token-revoked", envelope(
        "token.revoked", {"jti": "tok_a", "agent_id": "agent_a", "expires_at": NOW + 300},
        subject="tok_a", actor="key_1"))
    # The input that showed RevocationSet::prune overflowing; kept so every run checks it again.
    write("event_envelope", "token-revoked-end-of-time", envelope(
        "token.revoked", {"jti": "tok_a", "agent_id": "agent_a", "expires_at": 2**63 - 1}))
    write("event_envelope", "agent-revoked", envelope(
        "agent.revoked", {"agent_id": "agent_a", "at_ms": NOW * 1000 + 999},
        decisionid="dec_1", traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
    write("event_envelope", "token-issued", envelope(
        "token.issued", {"jti": "tok_b", "agent_id": "agent_a", "scope": ["db.*"], "audience": "any",
                         "expires_at": NOW + 300, "intent": None}))


def audit() -> None:
    private, public = key(9)
    kid = "audit-" + b64url(hashlib.sha256(public).digest()[:8])
    entries, prev = [], GENESIS
    for seq in (1, 2, 3):
        entry = {"account": "acct_a", "seq": seq, "event_id": f"ev{seq}", "type": "api_key.created",
                 "time_ms": 1_767_225_600_000 + seq, "actor": "key_1", "subject": "", "decision_id": "",
                 "data": {"name": 'a, "b"', "n": seq}}
        digest = hashlib.sha256(bytes.fromhex(prev) + canonical(entry).encode()).hexdigest()
        entries.append((entry, prev, digest))
        prev = digest

    def time(ms: int) -> str:
        at = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
        return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"

    lines = []
    for entry, prev_hash, digest in entries:
        lines.append(json.dumps({
            "account_id": entry["account"], "seq": entry["seq"], "event_id": entry["event_id"],
            "type": entry["type"], "time": time(entry["time_ms"]), "time_ms": entry["time_ms"],
            "actor": entry["actor"], "subject": entry["subject"], "decision_id": entry["decision_id"],
            "data": entry["data"], "prev_hash": prev_hash, "hash": digest}, separators=(",", ":")))
    statement = {"account": "acct_a", "seq": 2, "hash": entries[1][2], "time_ms": 1_767_225_700_000}
    signature = private.sign(b"latchkey-audit-checkpoint/v1\n" + canonical(statement).encode())
    checkpoint = json.dumps({"account_id": "acct_a", "seq": 2, "hash": entries[1][2],
                             "time_ms": statement["time_ms"], "kid": kid, "signature": b64url(signature)})
    write("audit_export", "0-jsonl", "0" + "\n".join(lines) + "\n")
    write("audit_export", "0-checkpoint-jsonl", "0" + checkpoint + "\n" + "\n".join(lines) + "\n")

    def csv_field(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\r\n') else value

    header = "account_id,seq,event_id,type,time,time_ms,actor,subject,decision_id,data,prev_hash,hash"
    rows = [header]
    for entry, prev_hash, digest in entries:
        fields = [entry["account"], str(entry["seq"]), entry["event_id"], entry["type"], time(entry["time_ms"]),
                  str(entry["time_ms"]), entry["actor"], entry["subject"], entry["decision_id"],
                  canonical(entry["data"]), prev_hash, digest]
        rows.append(",".join(csv_field(f) for f in fields))
    write("audit_export", "1-csv-stream", "1" + "\r\n".join(rows) + "\r\n")
    write("audit_export", "2-chain", b"2" + noise(2, 200))


def webhooks() -> None:
    for n in range(3):
        write("webhook_signature", f"random-{n}", noise(10 + n, 96))


def scopes() -> None:
    write("scope_relations", "text-trailing", "\x01secrets.*\nsecrets.read\nsecrets.db.read")
    write("scope_relations", "text-inner", "\x01*.read\ndb.read\ndb.*")
    write("scope_relations", "text-everything", "\x01*\n*.*\na.*.c")
    write("scope_relations", "alphabet", b"\x00" + noise(20, 24).replace(b"\n", b"\x0b") + b"\n\x00\x02\x01\n\x03")


if __name__ == "__main__":
    tokens()
    policies()
    events()
    audit()
    webhooks()
    scopes()
