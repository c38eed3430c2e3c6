"""A webhook receiver that verifies every delivery with the `standardwebhooks` library (the
Standard Webhooks project's reference implementation), as a Latchkey customer would.

Prints {"port": N} on its first line once listening on 127.0.0.1. Control endpoints:
  POST /__secrets {"name": "whsec_…", …}  the secrets to verify with, each on its own
  GET  /__received                         every delivery: id, body and, per secret, whether it verified
Every other POST is a delivery; it is answered 204 when at least one secret verifies it, else 400.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

lock = threading.Lock()
secrets = {}
received = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/__received":
            with lock:
                self._answer(200, json.dumps(received).encode())
        else:
            self._answer(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path == "/__secrets":
            with lock:
                secrets.clear()
                secrets.update(json.loads(body))
            self._answer(204)
            return
        headers = {name: value for name, value in self.headers.items()}
        verified = {}
        with lock:
            current = dict(secrets)
        for name, secret in current.items():
            try:
                Webhook(secret).verify(body, headers)
                verified[name] = True
            except WebhookVerificationError:
                verified[name] = False
        with lock:
            received.append(
                {
                    "id": headers.get("webhook-id") or headers.get("Webhook-Id"),
                    "body": body.decode(),
                    "verified": verified,
                }
            )
        self._answer(204 if any(verified.values()) else 400)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"port": server.server_address[1]}), flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
