"""A tiny local webhook endpoint for the demo's alert channel: each POST becomes one line of a JSON log.

    SCC_WEBHOOK_SECRET=KEY python -m demo.webhook_receiver --log demo-state/webhook-alerts.jsonl [--port 0]

It prints its URL as the first stdout line (the demo's Supervisor reads it), then appends every
delivery with its arrival time and whether the HMAC signature checked out, so the operator can
``tail -f`` what a ticketing system or chat bridge would have received.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from central.alerts.senders import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook_signature

MAX_BODY = 1024 * 1024
# The channel's HMAC key, if any; the environment, because argv is visible to every local user.
SECRET_ENV = "SCC_WEBHOOK_SECRET"


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], log_path: Path, secret: str) -> None:
        super().__init__(address, _Handler)
        self.log_path = log_path
        self.secret = secret
        # Handler threads append concurrently; one line each must stay one line.
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self.send_error(413 if length else 411)
            return
        body = self.rfile.read(length)
        entry: dict[str, Any] = {"received_at": datetime.now(UTC).isoformat(), "path": self.path}
        if self.server.secret:
            entry["signature_ok"] = verify_webhook_signature(
                self.server.secret,
                self.headers.get(TIMESTAMP_HEADER, ""),
                body,
                self.headers.get(SIGNATURE_HEADER, ""),
            )
        try:
            entry["event"] = json.loads(body)
        except ValueError:
            self.send_error(400, "not JSON")
            return
        with self.server.lock, self.server.log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        # The JSON log is the record; the access line goes to stderr (the demo's per-process log).
        sys.stderr.write(f"webhook: {self.address_string()} {format % args}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.webhook_receiver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (default)")
    parser.add_argument("--log", type=Path, required=True, help="append one JSON line per delivery here")
    args = parser.parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    server = _Receiver((args.host, args.port), args.log, os.environ.get(SECRET_ENV, ""))
    print(f"http://{args.host}:{server.server_port}/scc-alerts", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
