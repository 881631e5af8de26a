"""Server-Sent Events: a change written the way the ingest writes it reaches an open stream, which ends in time."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Iterator

from flask.testing import FlaskClient

from central.ingest.agents import AgentDirectory
from central.ingest.store import BatchWriter, Received
from central.storage.db import Database
from tests.central import factories as f


def break_camera(database: Database, agent: str = "agent-1671", camera_id: str = "cam-0000") -> None:
    """Store an 'offline' report through the ingest's own batch writer, as if it came over MQTT."""
    writer = BatchWriter(database, AgentDirectory.fixed(f.registry({agent: "16.71"})))
    now = dt.datetime.now(dt.UTC)
    topic, payload = f.wire(f.camera_status(agent, camera_id, "offline", now))
    result = writer.write([Received(topic, payload, now)])
    assert result.stored == 1, result


def events(chunks: Iterable[str | bytes]) -> Iterator[tuple[str, str]]:
    """(event name, data) for each SSE event in the stream; comments and id-only blocks are skipped."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(
                line.split(": ", 1)
                for line in block.splitlines()
                if ": " in line and not line.startswith(":")
            )
            if "data" in fields:
                yield fields.get("event", "message"), fields["data"]


def test_stream_needs_login(client: FlaskClient) -> None:
    assert client.get("/live/events").status_code == 401


def test_a_broken_camera_reaches_an_open_stream(admin: FlaskClient, web_database: Database) -> None:
    started = time.monotonic()
    response = admin.get("/live/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"].startswith("no-cache")
    stream = events(response.response)
    assert next(stream)[0] == "hello"
    break_camera(web_database)
    name, data = next(stream)
    change = json.loads(data)
    assert name == "change" and change["kind"] == "camera_status"
    assert (change["regency"], change["state"]) == ("16.71", "offline")
    rest = list(stream)
    assert rest[-1][0] == "bye"
    assert time.monotonic() - started < 2.0 + 3.0  # sse_max_s in the test config, plus slack
    response.close()


def test_resume_from_last_event_id_and_scope(admin: FlaskClient) -> None:
    response = admin.get("/live/events?regency=16.06", headers={"Last-Event-ID": "0"}, buffered=False)
    changes = [json.loads(data) for name, data in events(response.response) if name == "change"]
    assert changes and {c["regency"] for c in changes} == {"16.06"}
    response.close()
