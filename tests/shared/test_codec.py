"""decode(): every valid message round-trips; anything else is a one-line DecodeError, never an exception."""

from __future__ import annotations

import hashlib
import json
import struct
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import codec, topics
from shared.codec import Decoded, DecodeError, decode, encode, encode_thumbnail, topic_for
from shared.messages import ALL_MODELS, CameraStatus, CameraThumbnail, LiveFrame, LiveState, new_message_id
from tests.shared.samples import TS, sample_message

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200 + b"\xff\xd9"


def _thumbnail(jpeg: bytes = JPEG) -> tuple[CameraThumbnail, bytes]:
    meta = codec.thumbnail_meta(
        agent="plg-01", seq=3, msg_id="a" * 32, ts=TS, camera_id="cam-01", jpeg=jpeg, width=320, height=180
    )
    return meta, encode_thumbnail(meta, jpeg)


@pytest.mark.parametrize(
    "model", [m for m in ALL_MODELS if m not in (CameraThumbnail, LiveFrame)], ids=lambda m: m.__name__
)
def test_every_kind_round_trips_on_its_topic(model: type) -> None:
    message = sample_message(model)
    result = decode(topic_for(message), encode(message))
    assert isinstance(result, Decoded), result
    assert result.message == message


def test_thumbnail_round_trips_with_its_jpeg() -> None:
    meta, payload = _thumbnail()
    result = decode(topic_for(meta), payload)
    assert isinstance(result, Decoded), result
    assert result.jpeg == JPEG and result.message == meta
    # Framing overhead is the header only: no base64 inflation of the image.
    assert len(payload) - len(JPEG) < 600


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda p: p[:-10], "is 196 bytes, header says 206"),
        (lambda p: p[:-1] + b"\x00", "sha256"),
        (lambda p: struct.pack(">I", 10**6) + p[4:], "header length"),
        (lambda p: b"\x00\x00", "shorter than"),
    ],
)
def test_thumbnail_body_must_match_its_header(mutate, expected: str) -> None:
    meta, payload = _thumbnail()
    result = decode(topic_for(meta), mutate(payload))
    assert isinstance(result, DecodeError) and expected in result.reason


def _live(state: LiveState = LiveState.FRAME, jpeg: bytes = JPEG) -> LiveFrame:
    return LiveFrame(agent="plg-01", seq=7, msg_id="b" * 32, ts=TS, camera_id="cam-01", state=state,
                     width=640, height=360, size_bytes=len(jpeg), fps=5.0)


def test_live_frame_round_trips_with_its_jpeg_on_the_live_tree() -> None:
    meta = _live()
    topic = topic_for(meta)
    assert topic == "scc/v1/live/plg-01/cam-01" and not topic.startswith(topics.ALL_AGENT_TOPICS[:-1])
    result = decode(topic, codec.encode_live(meta, JPEG))
    assert isinstance(result, Decoded), result
    assert result.jpeg == JPEG and result.message == meta


def test_live_end_carries_no_image_and_a_failure_its_reason() -> None:
    failed = _live(LiveState.FAILED, b"").model_copy(update={"reason": "rtsp_timeout"})
    result = decode(topic_for(failed), codec.encode_live(failed))
    assert isinstance(result, Decoded) and result.jpeg == b"" and result.message.reason == "rtsp_timeout"
    sneaky = codec.encode_live(_live(LiveState.ENDED, b"")) + JPEG
    refused = decode(topic_for(failed), sneaky)
    assert isinstance(refused, DecodeError) and "carries no image" in refused.reason


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (codec.encode_live(_live(jpeg=JPEG), JPEG)[:-4], "header says"),
        (codec.encode_live(_live(jpeg=b"GIF89a"), b"GIF89a"), "not a JPEG"),
        (b"{}", "shorter than"),
    ],
)
def test_live_frame_body_must_match_its_header(payload: bytes, expected: str) -> None:
    result = decode("scc/v1/live/plg-01/cam-01", payload)
    assert isinstance(result, DecodeError) and expected in result.reason, result


def test_live_frame_header_must_name_the_topics_camera() -> None:
    result = decode("scc/v1/live/plg-01/cam-02", codec.encode_live(_live(), JPEG))
    assert isinstance(result, DecodeError) and "camera_id" in result.reason


def test_thumbnail_body_must_be_jpeg() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 50
    meta = codec.thumbnail_meta(
        agent="plg-01", seq=3, msg_id="a" * 32, ts=TS, camera_id="cam-01", jpeg=png, width=320, height=180
    )
    result = decode(topic_for(meta), encode_thumbnail(meta, png))
    assert isinstance(result, DecodeError) and "not a JPEG" in result.reason


def _status_payload(**changes: object) -> bytes:
    data = json.loads(encode(sample_message(CameraStatus)))
    data.update(changes)
    return json.dumps(data).encode()


STATUS_TOPIC = topics.camera_status("plg-01", "cam-01")


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        ("other/topic", b"{}", "outside scc/v1/"),
        ("scc/v1/agents/plg-01/unknown", b"{}", "not a known SCC channel"),
        ("scc/v1/agents/bad+id/metrics", b"{}", "not a valid id"),
        (STATUS_TOPIC, b"", "empty payload"),
        (STATUS_TOPIC, b"\xff\xfe", "not UTF-8"),
        (STATUS_TOPIC, b"{not json", "not JSON"),
        (STATUS_TOPIC, b"[1, 2]", "JSON list, not an object"),
        (STATUS_TOPIC, b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (STATUS_TOPIC, _status_payload(schema_version=2), "version 2 is not supported"),
        (STATUS_TOPIC, _status_payload(schema_version="1"), "schema_version"),
        (STATUS_TOPIC, _status_payload(kind="host_metrics"), "does not belong on a camera_status topic"),
        (STATUS_TOPIC, _status_payload(status="sleeping"), "field 'status'"),
        (STATUS_TOPIC, _status_payload(extra_field=1), "field 'extra_field': Extra inputs are not permitted"),
        (STATUS_TOPIC, _status_payload(ts="2026-11-28T09:00:00"), "field 'ts'"),
        (STATUS_TOPIC, _status_payload(seq=-1), "field 'seq'"),
        (topics.camera_status("plg-02", "cam-01"), _status_payload(), "field 'agent'"),
        (topics.camera_status("plg-01", "cam-02"), _status_payload(), "field 'camera_id'"),
        (STATUS_TOPIC, b" " * (codec.MAX_PAYLOAD_BYTES + 1), "exceeds the 1048576-byte limit"),
    ],
)
def test_bad_input_is_one_clear_line(topic: str, payload: bytes, expected: str) -> None:
    result = decode(topic, payload)
    assert isinstance(result, DecodeError), result
    assert expected in result.reason
    assert "\n" not in result.reason


def test_timestamps_are_normalised_to_utc() -> None:
    result = decode(STATUS_TOPIC, _status_payload(ts="2026-11-28T16:00:00+07:00"))
    assert isinstance(result, Decoded)
    assert result.message.ts == TS.replace(hour=9)
    assert result.message.ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_hostile_strings_survive_as_data() -> None:
    result = decode(STATUS_TOPIC, _status_payload(message="<script>alert(1)</script>"))
    assert isinstance(result, Decoded) and result.message.message == "<script>alert(1)</script>"  # type: ignore[union-attr]
    too_long = decode(STATUS_TOPIC, _status_payload(message="x" * 10_000))
    assert isinstance(too_long, DecodeError) and "field 'message'" in too_long.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
agent_topics = st.sampled_from(
    [
        STATUS_TOPIC,
        topics.metrics("plg-01"),
        topics.availability("plg-01"),
        topics.camera_thumbnail("plg-01", "c"),
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(topic=st.text(max_size=80) | agent_topics, payload=st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(topic: str, payload: bytes) -> None:
    result = decode(topic, payload)
    assert isinstance(result, Decoded | DecodeError)
    # decode() turns its own bugs into DecodeErrors too; those must not exist.
    assert not (isinstance(result, DecodeError) and result.reason.startswith("internal decoder error")), result


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(topic=agent_topics, document=st.dictionaries(st.text(max_size=20), json_values, max_size=8))
def test_arbitrary_json_never_raises(topic: str, document: dict) -> None:
    result = decode(topic, json.dumps(document).encode())
    assert isinstance(result, DecodeError)
    assert not result.reason.startswith("internal decoder error"), result


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(sorted(CameraStatus.model_fields)), value=json_values)
def test_one_corrupted_field_is_refused_or_valid(field: str, value: object) -> None:
    result = decode(STATUS_TOPIC, _status_payload(**{field: value}))
    if isinstance(result, Decoded):
        # Whatever got through is fully valid: re-encoding it decodes to the same message.
        again = decode(STATUS_TOPIC, encode(result.message))
        assert isinstance(again, Decoded) and again.message == result.message
    else:
        assert result.reason


def test_jpeg_hash_is_computed_not_trusted() -> None:
    meta, _ = _thumbnail()
    assert meta.sha256 == hashlib.sha256(JPEG).hexdigest() and meta.size_bytes == len(JPEG)


def test_message_ids_are_time_ordered_uuid7_that_the_contract_accepts() -> None:
    ids = []
    for _ in range(3):
        ids.append(new_message_id())
        time.sleep(0.002)  # a later millisecond sorts later, whatever the random bits
    parsed = [uuid.UUID(hex=value) for value in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert ids == sorted(ids) and len(set(ids)) == 3
    now_ms = time.time_ns() // 1_000_000
    assert 0 <= now_ms - (parsed[-1].int >> 80) < 5_000
    message = sample_message(CameraStatus)
    assert isinstance(decode(topic_for(message), encode(message)), Decoded)
