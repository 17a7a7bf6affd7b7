"""A webhook receiver for the tests, verifying every delivery with the reference
Standard Webhooks library (`standardwebhooks`), never with the project's code.

Prints its port on stdout once it listens, then nothing else there.

- `POST /hooks/{name}`: a delivery. It is verified against each secret configured
  for `name`, logged, and answered with the next status code of the name's plan
  (the last one repeats), or 401 when no secret verifies it.
- `PUT /_control/{name}`: `{"secrets": ["whsec_..."], "plan": [500, 200],
  "retry_after": null}` configures a name and restarts its plan.
- `GET /_log`: every delivery so far, oldest first: `{name, webhook_id, timestamp,
  signature, verified, verified_with, error, type, body, status_answered,
  received_at}`; `?name=` keeps one name's.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from standardwebhooks.webhooks import Webhook

LOCK = threading.Lock()
CONFIG = {}  # name -> {"secrets": [...], "plan": [...], "retry_after": int|None, "served": n}
LOG = []


def verify(secrets, body, headers):
    """The index of the first secret that verifies the delivery, and the last error."""
    error = None if secrets else "no secret configured"
    for index, secret in enumerate(secrets):
        try:
            Webhook(secret).verify(body, headers)
            return index, None
        except Exception as e:  # the library raises several kinds
            error = f"{type(e).__name__}: {e}"
    return None, error


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def answer(self, status, payload=None, headers=()):
        body = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def do_PUT(self):
        path = urlparse(self.path).path
        if not path.startswith("/_control/"):
            return self.answer(404, {"error": "unknown path"})
        name = path[len("/_control/"):]
        wanted = json.loads(self.read_body() or b"{}")
        with LOCK:
            CONFIG[name] = {
                "secrets": list(wanted.get("secrets") or []),
                "plan": list(wanted.get("plan") or [200]),
                "retry_after": wanted.get("retry_after"),
                "served": 0,
            }
        self.answer(200, {"name": name})

    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/_log":
            return self.answer(404, {"error": "unknown path"})
        names = parse_qs(url.query).get("name")
        with LOCK:
            entries = [e for e in LOG if not names or e["name"] in names]
        self.answer(200, entries)

    def do_POST(self):
        path = urlparse(self.path).path
        if not path.startswith("/hooks/"):
            return self.answer(404, {"error": "unknown path"})
        name = path[len("/hooks/"):]
        received_at = time.time()
        raw = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            config = CONFIG.get(name) or {"secrets": [], "plan": [200], "retry_after": None, "served": 0}
            secrets = list(config["secrets"])
        verified_with, error = verify(secrets, raw, headers)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with LOCK:
            if verified_with is None:
                status = 401
            else:
                plan = config["plan"]
                status = plan[min(config["served"], len(plan) - 1)]
                config["served"] += 1
            LOG.append({
                "name": name,
                "webhook_id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
                "signature": headers.get("webhook-signature"),
                "verified": verified_with is not None,
                "verified_with": verified_with,
                "error": error,
                "type": body.get("type") if isinstance(body, dict) else None,
                "body": body,
                "status_answered": status,
                "received_at": received_at,
            })
        extra = []
        if config.get("retry_after") is not None:
            extra.append(("retry-after", str(config["retry_after"])))
        self.answer(status, {"status": status}, extra)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
