"""Signs and verifies JWTs with PyJWT (and `cryptography`), a JWT library that is not Latchkey's,
for the certificate tests: what a client of Latchkey would run.

Reads a JSON list of requests on standard input and prints a JSON list of answers, in order:
  {"op": "sign", "key": "<PKCS#8 PEM>", "algorithm": "RS256", "headers": {...}, "claims": {...}}
      -> {"token": "..."}            (algorithm "none" signs nothing, with no key)
  {"op": "hs256", "secret": "<text>", "headers": {...}, "claims": {...}}
      -> {"token": "..."}            HMAC-SHA256 keyed with the text, built by hand: PyJWT refuses a
                                     PEM as an HMAC key, which is the alg-confusion attack's point
  {"op": "verify", "key": "<SPKI PEM>" | {JWK}, "algorithm": "RS256", "token": "...", "audience": "..."}
      -> {"claims": {...}} or {"error": "<PyJWT's exception name>"}
"""

import base64
import hashlib
import hmac
import json
import sys

import jwt


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(request):
    algorithm = request["algorithm"]
    key = None if algorithm == "none" else request["key"]
    token = jwt.encode(request["claims"], key, algorithm=algorithm, headers=request.get("headers"))
    return {"token": token}


def hs256(request):
    header = {"alg": "HS256", **request.get("headers", {})}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(request["claims"]).encode())
    signature = hmac.new(request["secret"].encode(), signing_input.encode(), hashlib.sha256).digest()
    return {"token": signing_input + "." + b64url(signature)}


def verify(request):
    key = request["key"]
    if isinstance(key, dict):
        key = jwt.PyJWK(key).key
    try:
        claims = jwt.decode(
            request["token"], key, algorithms=[request["algorithm"]], audience=request.get("audience")
        )
    except jwt.PyJWTError as error:
        return {"error": type(error).__name__}
    return {"claims": claims}


OPS = {"sign": sign, "hs256": hs256, "verify": verify}

answers = [OPS[request["op"]](request) for request in json.load(sys.stdin)]
json.dump(answers, sys.stdout)
