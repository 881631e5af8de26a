"""The one way to turn SCC messages into MQTT payloads and back: encode, and decode that never raises.

Thumbnail framing: a thumbnail payload is ``4-byte big-endian header length | JSON header | JPEG``.
The JPEG travels as raw bytes because base64 inside JSON would add a third to every ~10 kB
thumbnail on the regencies' thin links; the header is a normal, schema-validated CameraThumbnail,
so a reader validates it with the same models and checks the JPEG against its size and sha256.
MQTT v5 user properties could carry the header too, but bridges and v3 readers drop them.

Live frames use the same framing (header: a LiveFrame); a ``frame`` is checked against its size and the
JPEG magic only: it is shown once and dropped, never stored, and hashing 5 frames a second on the
agent's small CPU would buy nothing TLS does not already guarantee.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn, Union

from pydantic import Field, TypeAdapter, ValidationError

from shared import topics
from shared.messages import (
    SCHEMA_VERSION,
    AgentBirth,
    AgentOffline,
    AlertEvent,
    CameraInventory,
    CameraStatus,
    CameraThumbnail,
    Command,
    CommandResult,
    HostMetrics,
    LiveFrame,
    LiveState,
    Message,
    PublicCameraStatus,
    PublicWebsiteStatus,
    RegencySummary,
    ReportsStored,
    Strict,
    WebsiteStatus,
)
from shared.topics import Channel, TopicError, TopicInfo

# Refused before parsing: an inventory of 5,000 cameras fits with room to spare; the broker's
# max_packet_size is set just above this so oversized publishes never reach a subscriber.
MAX_PAYLOAD_BYTES = 1_048_576
MAX_THUMBNAIL_HEADER_BYTES = 8_192
JPEG_MAGIC = b"\xff\xd8\xff"
_HEADER_LENGTH = struct.Struct(">I")

CHANNEL_MODELS: dict[Channel, tuple[type[Strict], ...]] = {
    Channel.AVAILABILITY: (AgentBirth, AgentOffline),
    Channel.METRICS: (HostMetrics,),
    Channel.INVENTORY: (CameraInventory,),
    Channel.CAMERA_STATUS: (CameraStatus,),
    Channel.CAMERA_THUMBNAIL: (CameraThumbnail,),
    Channel.WEBSITE_STATUS: (WebsiteStatus,),
    Channel.COMMAND: (Command,),
    Channel.COMMAND_RESULT: (CommandResult,),
    Channel.CONFIRMATION: (ReportsStored,),
    Channel.LIVE_FRAME: (LiveFrame,),
    Channel.PUBLIC_REGENCY: (RegencySummary,),
    Channel.PUBLIC_CAMERA: (PublicCameraStatus,),
    Channel.PUBLIC_WEBSITE: (PublicWebsiteStatus,),
    Channel.PUBLIC_ALERTS: (AlertEvent,),
}
_KIND_TO_MODEL: dict[str, type[Strict]] = {
    model.model_fields["kind"].default: model for models in CHANNEL_MODELS.values() for model in models
}
_ADAPTERS: dict[type[Strict], TypeAdapter[Any]] = {
    model: TypeAdapter(model) for model in _KIND_TO_MODEL.values()
}


def _channel_adapter(models: tuple[type[Strict], ...]) -> TypeAdapter[Any]:
    if len(models) == 1:
        return _ADAPTERS[models[0]]
    union: Any = Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007
    return TypeAdapter(union)


# The fast path: pydantic parses and validates the bytes in one pass (JSON mode, strict, so
# 1.0 is no integer); only a payload it refuses takes the slow path that explains why.
_CHANNEL_ADAPTERS: dict[Channel, TypeAdapter[Any]] = {
    channel: _channel_adapter(models) for channel, models in CHANNEL_MODELS.items()
}


@dataclass(frozen=True, slots=True)
class Decoded:
    """A payload that passed every check: the topic's ids, the typed message, a thumbnail's JPEG."""

    topic: TopicInfo
    message: Message
    jpeg: bytes | None = None


@dataclass(frozen=True, slots=True)
class DecodeError:
    """Why a payload was refused, in one line that names the field or the rule."""

    topic: str
    reason: str

    def __str__(self) -> str:
        return f"{self.topic}: {self.reason}"


# Channels whose payload is ``4-byte header length | JSON header | JPEG`` rather than JSON alone.
BINARY_CHANNELS = frozenset({Channel.CAMERA_THUMBNAIL, Channel.LIVE_FRAME})

# The contract's retention table, its one source: the channels whose messages are published retained, each
# with the largest payload it may retain. The AsyncAPI document's retain flags come from it
# (shared/contract.py), and central's ingest clears any agent message retained outside it
# (central/ingest/retention.py): Mosquitto 2.0.11 cannot refuse a retained message per topic, and every one
# stays in the broker's memory until cleared. An agent retains exactly one topic, its availability (birth,
# shutdown, last will: a few hundred bytes, 16 KiB leaves room for the longest host name); per-camera and
# per-website channels retain nothing, so how many cameras an agent invents never grows the broker.
# Central's public topics are retained by central itself and bounded by the payload limit.
MAX_RETAINED_AVAILABILITY_BYTES = 16 * 1024
RETAINED_CHANNELS: dict[Channel, int] = {
    Channel.AVAILABILITY: MAX_RETAINED_AVAILABILITY_BYTES,
    Channel.PUBLIC_REGENCY: MAX_PAYLOAD_BYTES,
    Channel.PUBLIC_CAMERA: MAX_PAYLOAD_BYTES,
    Channel.PUBLIC_WEBSITE: MAX_PAYLOAD_BYTES,
}


def retention_refusal(topic: str, size: int) -> str:
    """Why a retained message of ``size`` bytes on ``topic`` breaks the contract; "" if it may be retained.

    Names the message kind the topic carries, so the reason reads "agents may not retain camera_status
    messages" rather than a channel name nobody outside the code knows.
    """
    try:
        info = topics.parse(topic)
    except TopicError as error:
        return f"{error}: nothing may be retained there"
    bound = RETAINED_CHANNELS.get(info.channel)
    kinds = "/".join(str(model.model_fields["kind"].default) for model in CHANNEL_MODELS[info.channel])
    if bound is None:
        return f"topic {topic!r}: {kinds} messages may not be retained (the contract retains none)"
    if size > bound:
        return f"topic {topic!r}: a retained {kinds} message of {size} bytes exceeds the contract's {bound} bytes"
    return ""


def encode(message: Message) -> bytes:
    """JSON payload for any message except a thumbnail or live frame (use encode_thumbnail / encode_live)."""
    if isinstance(message, CameraThumbnail | LiveFrame):
        raise TypeError("a binary-framed message needs its JPEG: use encode_thumbnail or encode_live")
    return message.model_dump_json(exclude_none=False).encode()


def encode_thumbnail(meta: CameraThumbnail, jpeg: bytes) -> bytes:
    header = meta.model_dump_json().encode()
    return _HEADER_LENGTH.pack(len(header)) + header + jpeg


def encode_live(meta: LiveFrame, jpeg: bytes = b"") -> bytes:
    """A live frame's payload; ``jpeg`` must be ``meta.size_bytes`` long (empty unless state is frame)."""
    if len(jpeg) != meta.size_bytes:
        raise ValueError(f"live frame header says {meta.size_bytes} bytes, the JPEG is {len(jpeg)}")
    header = meta.model_dump_json().encode()
    return _HEADER_LENGTH.pack(len(header)) + header + jpeg


def thumbnail_meta(
    *, agent: str, seq: int, msg_id: str, ts: Any, camera_id: str, jpeg: bytes, width: int, height: int
) -> CameraThumbnail:
    """The header that matches a JPEG: its size and sha256 are computed here, not trusted."""
    return CameraThumbnail(
        agent=agent,
        seq=seq,
        msg_id=msg_id,
        ts=ts,
        camera_id=camera_id,
        width=width,
        height=height,
        size_bytes=len(jpeg),
        sha256=hashlib.sha256(jpeg).hexdigest(),
        captured_at=ts,
    )


def topic_for(message: Message) -> str:
    """The topic an agent-side message is published on (public messages need their regency)."""
    match message:
        case AgentBirth() | AgentOffline():
            return topics.availability(message.agent)
        case HostMetrics():
            return topics.metrics(message.agent)
        case CameraInventory():
            return topics.inventory(message.agent)
        case CameraStatus():
            return topics.camera_status(message.agent, message.camera_id)
        case CameraThumbnail():
            return topics.camera_thumbnail(message.agent, message.camera_id)
        case WebsiteStatus():
            return topics.website_status(message.agent, message.website_id)
        case Command():
            return topics.command(message.agent, message.name.value)
        case CommandResult():
            return topics.command_result(message.agent)
        case LiveFrame():
            return topics.live_frames(message.agent, message.camera_id)
        case ReportsStored():
            return topics.confirmations(message.agent)
        case PublicCameraStatus():
            return topics.public_camera(message.regency, message.agent, message.camera_id)
        case PublicWebsiteStatus():
            return topics.public_website(message.regency, message.agent, message.website_id)
        case RegencySummary():
            return topics.public_regency(message.regency)
        case AlertEvent():
            return topics.PUBLIC_ALERTS_TOPIC
    raise TypeError(f"not an SCC message: {type(message).__name__}")


def decode(topic: str, payload: bytes) -> Decoded | DecodeError:
    """Topic + bytes -> a typed message, or a one-line DecodeError. Never raises."""
    try:
        return _decode(topic, payload)
    except _Refused as refused:
        return DecodeError(topic, str(refused))
    except Exception as unexpected:  # a decoder bug must not take a worker down
        return DecodeError(topic, f"internal decoder error: {type(unexpected).__name__}: {unexpected}")


class _Refused(Exception):
    """A payload refused for a reason decode() reports as a DecodeError."""


def _decode(topic: str, payload: bytes) -> Decoded:
    try:
        info = topics.parse(topic)
    except TopicError as error:
        raise _Refused(str(error)) from None
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise _Refused(f"payload is {type(payload).__name__}, not bytes")
    payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise _Refused(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
    if not payload:
        raise _Refused("empty payload (a cleared retained message carries no report)")

    jpeg: bytes | None = None
    document = payload
    if info.channel in BINARY_CHANNELS:
        document, jpeg = _split_binary(payload)

    try:
        message = _CHANNEL_ADAPTERS[info.channel].validate_json(document, strict=True)
    except ValidationError:
        _explain_refusal(info, document)
    _check_topic_matches(info, message)
    if jpeg is not None:
        _check_jpeg(message, jpeg)
    return Decoded(info, message, jpeg)


def _explain_refusal(info: TopicInfo, document: bytes) -> NoReturn:
    """Say precisely why the fast path refused ``document``: the encoding, the version, the kind or a field."""
    data = _parse_json(document)
    model = _model_for(info, data)
    try:
        huge = _first_huge_integer(data)
    except RecursionError:
        raise _Refused("payload is not JSON we read: nested too deeply") from None
    if huge is not None:
        where, digits = huge
        raise _Refused(f"{model.model_fields['kind'].default}: field '{where}': integer out of range ({digits} digits)")
    try:
        _ADAPTERS[model].validate_json(document, strict=True)
    except ValidationError as error:
        raise _Refused(f"{model.model_fields['kind'].default}: {_first_error(error)}") from None
    raise _Refused("payload refused by the schema")  # unreachable unless pydantic disagrees with itself


def _split_binary(payload: bytes) -> tuple[bytes, bytes]:
    if len(payload) < _HEADER_LENGTH.size:
        raise _Refused("binary payload shorter than its 4-byte header length")
    (length,) = _HEADER_LENGTH.unpack_from(payload)
    if length == 0 or length > MAX_THUMBNAIL_HEADER_BYTES or _HEADER_LENGTH.size + length > len(payload):
        raise _Refused(f"binary header length {length} does not fit a payload of {len(payload)} bytes")
    start = _HEADER_LENGTH.size
    return payload[start : start + length], payload[start + length :]


# More digits than any integer in the contract can have; Python refuses to convert over 4,300 anyway.
MAX_INTEGER_DIGITS = 40


@dataclass(frozen=True, slots=True)
class _HugeInteger:
    """An integer literal too long to convert: kept as its digit count, so the refusal can name its field."""

    digits: int


def _parse_int(literal: str) -> int | _HugeInteger:
    digits = len(literal.lstrip("-"))
    return _HugeInteger(digits) if digits > MAX_INTEGER_DIGITS else int(literal)


def _first_huge_integer(value: Any, where: str = "") -> tuple[str, int] | None:
    """(dotted path, digits) of the first over-long integer literal in parsed JSON, or None."""
    if isinstance(value, _HugeInteger):
        return where or "(payload)", value.digits
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        found = _first_huge_integer(inner, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"), parse_int=_parse_int)
    except UnicodeDecodeError as error:
        raise _Refused(f"payload is not UTF-8 (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise _Refused(
            f"payload is not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise _Refused("payload is not JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise _Refused(f"payload is a JSON {type(data).__name__}, not an object")
    return data


def _model_for(info: TopicInfo, data: dict[str, Any]) -> type[Strict]:
    version = data.get("schema_version")
    if type(version) is not int:
        raise _Refused("field 'schema_version': missing or not an integer")
    if version != SCHEMA_VERSION:
        raise _Refused(
            f"field 'schema_version': version {version} is not supported (this build reads {SCHEMA_VERSION})"
        )
    kind = data.get("kind")
    allowed = CHANNEL_MODELS[info.channel]
    names = [m.model_fields["kind"].default for m in allowed]
    if not isinstance(kind, str) or kind not in names:
        raise _Refused(
            f"field 'kind': {kind!r} does not belong on a {info.channel.value} topic (expected {' or '.join(names)})"
        )
    return _KIND_TO_MODEL[kind]


def _first_error(error: ValidationError) -> str:
    problems = error.errors(include_url=False)
    first = problems[0]
    where = ".".join(str(part) for part in first["loc"]) or "(payload)"
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"field '{where}': {first['msg']}{more}"


def _check_topic_matches(info: TopicInfo, message: Message) -> None:
    pairs = (
        ("agent", info.agent),
        ("camera_id", info.camera_id),
        ("website_id", info.website_id),
        ("regency", info.regency),
    )
    for field, expected in pairs:
        if expected is None:
            continue
        actual = getattr(message, field, None)
        if actual != expected:
            raise _Refused(f"field '{field}': {actual!r} does not match the topic's {expected!r}")
    if info.command is not None and isinstance(message, Command) and message.name.value != info.command:
        raise _Refused(f"field 'name': {message.name.value!r} does not match the topic's {info.command!r}")


def _check_jpeg(message: Message, jpeg: bytes) -> None:
    if isinstance(message, LiveFrame):
        _check_live_jpeg(message, jpeg)
        return
    assert isinstance(message, CameraThumbnail)
    if not jpeg.startswith(JPEG_MAGIC):
        raise _Refused("thumbnail body is not a JPEG (no FF D8 FF magic)")
    if len(jpeg) != message.size_bytes:
        raise _Refused(f"thumbnail body is {len(jpeg)} bytes, header says {message.size_bytes}")
    if hashlib.sha256(jpeg).hexdigest() != message.sha256:
        raise _Refused("thumbnail body does not match the header's sha256")


def _check_live_jpeg(message: LiveFrame, jpeg: bytes) -> None:
    if message.state is not LiveState.FRAME:
        if jpeg:
            raise _Refused(f"a live {message.state.value} message carries no image, this one has {len(jpeg)} bytes")
        return
    if not jpeg.startswith(JPEG_MAGIC):
        raise _Refused("live frame body is not a JPEG (no FF D8 FF magic)")
    if len(jpeg) != message.size_bytes:
        raise _Refused(f"live frame body is {len(jpeg)} bytes, header says {message.size_bytes}")
