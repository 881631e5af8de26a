"""The relay's Unix-socket wire, shared by the relay and the web: one request line, then framed payloads.

The web sends one JSON line ``{"agent": ..., "camera": ...}`` (with ``"still": true`` for one
full-resolution still instead of the live stream); the relay answers with a stream of
``4-byte big-endian length | live payload`` (the contract's live_frame framing, shared/codec.py) until
the stream ends or either side closes. Closing the socket is how a viewer leaves.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

from shared import codec, topics
from shared.codec import Decoded, DecodeError

LENGTH = struct.Struct(">I")
MAX_REQUEST_BYTES = 512


class RelayUnavailable(ConnectionError):
    """The relay process is not running (or not reachable); the message says where it was looked for."""


def request_line(agent: str, camera_id: str, still: bool = False) -> bytes:
    return json.dumps({"agent": agent, "camera": camera_id, "still": still}).encode() + b"\n"


def parse_request(line: bytes) -> tuple[str, str, bool]:
    """(agent, camera, still) a viewer asks for; ValueError saying why when the line is not a valid request."""
    data = json.loads(line.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("request is not a JSON object")
    agent, camera_id = data.get("agent"), data.get("camera")
    if not isinstance(agent, str) or not isinstance(camera_id, str):
        raise ValueError("request needs agent and camera strings")
    topics.check_identifier(agent, "agent")
    topics.check_identifier(camera_id, "camera id")
    still = data.get("still", False)
    if not isinstance(still, bool):
        raise ValueError("still must be true or false")
    return agent, camera_id, still


def frame(payload: bytes) -> bytes:
    return LENGTH.pack(len(payload)) + payload


def watch(path: Path, agent: str, camera_id: str, timeout_s: float, still: bool = False) -> Iterator[Decoded]:
    """Connect to the relay and yield the camera's live messages; ends when the relay ends the stream.

    With ``still``, the one message answering snapshot_now (the picture, or why there is none).
    ``timeout_s`` bounds each wait for the next message (the relay sends a failure before it). Raises
    RelayUnavailable when the relay cannot be reached.
    """
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(timeout_s)
        try:
            connection.connect(str(path))
        except OSError as error:
            raise RelayUnavailable(f"the live-view relay is not running ({path}: {error.strerror})") from None
        connection.sendall(request_line(agent, camera_id, still))
        reader = connection.makefile("rb")
        topic = topics.live_frames(agent, camera_id)
        while True:
            head = reader.read(LENGTH.size)
            if len(head) < LENGTH.size:
                return
            (length,) = LENGTH.unpack(head)
            if length > codec.MAX_PAYLOAD_BYTES:
                return
            payload = reader.read(length)
            if len(payload) < length:
                return
            decoded = codec.decode(topic, payload)
            if isinstance(decoded, DecodeError):
                return
            yield decoded
    finally:
        connection.close()
