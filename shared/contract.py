"""Generate the published contract from the models: JSON Schema files and the AsyncAPI 3.0 document.

Run ``python -m shared.contract`` after changing shared/messages.py or shared/topics.py; a test
regenerates both and fails on any difference, so the published contract never drifts from the code.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared import topics
from shared.codec import CHANNEL_MODELS, MAX_PAYLOAD_BYTES, RETAINED_CHANNELS
from shared.messages import ALL_MODELS, SCHEMA_VERSION, Strict
from shared.topics import Channel

PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMAS_DIR = PACKAGE_DIR / "schemas"
ASYNCAPI_PATH = PACKAGE_DIR / "asyncapi.yaml"


@dataclass(frozen=True)
class ChannelDoc:
    """How one channel is used: who publishes, who reads, QoS (retain: codec.RETAINED_CHANNELS)."""

    address: str
    publisher: str
    subscribers: str
    description: str
    binary: bool = False
    qos: int = 1


_AGENT = "{agent}"
_CAMERA = "{camera_id}"
_WEBSITE = "{website_id}"
_REGENCY = "{regency}"

CHANNELS: dict[Channel, ChannelDoc] = {
    Channel.AVAILABILITY: ChannelDoc(
        topics.availability(_AGENT),
        "agent (birth) / broker (last will)",
        "central",
        "Agent presence: a retained birth when the agent connects; the broker publishes the retained "
        "last will (agent_offline, reason connection_lost) when the connection dies. The only topic an agent "
        "may retain, at most 16 KiB: central quarantines (retained_forbidden) and clears, with an empty retained "
        "message, any other message an agent retains, and any retained message it refuses.",
    ),
    Channel.METRICS: ChannelDoc(
        topics.metrics(_AGENT),
        "agent",
        "central",
        "Host metrics of the agent box, about once a minute.",
    ),
    Channel.INVENTORY: ChannelDoc(
        topics.inventory(_AGENT),
        "agent",
        "central",
        "The cameras the agent knows, with those found and lost since the previous inventory.",
    ),
    Channel.CAMERA_STATUS: ChannelDoc(
        topics.camera_status(_AGENT, _CAMERA),
        "agent",
        "central",
        "One check cycle's result for one camera, with every check's outcome and reason code.",
    ),
    Channel.CAMERA_THUMBNAIL: ChannelDoc(
        topics.camera_thumbnail(_AGENT, _CAMERA),
        "agent",
        "central",
        "A JPEG thumbnail (at most 320 px wide). Binary framing: 4-byte big-endian length N, N bytes of "
        "JSON header (the camera_thumbnail schema), then the JPEG bytes; size and sha256 are checked.",
        binary=True,
    ),
    Channel.WEBSITE_STATUS: ChannelDoc(
        topics.website_status(_AGENT, _WEBSITE),
        "agent",
        "central",
        "One check of one OPD website: availability, TLS and content freshness.",
    ),
    Channel.COMMAND: ChannelDoc(
        topics.command(_AGENT, "{command}"),
        "central",
        "the named agent",
        "A command for one agent: check_now, rediscover or thumbnail_now; live_start (with lease_s; "
        "renewed by repeating it with the same command_id) and live_stop for a camera's live view; "
        "snapshot_now for one full-resolution still of a camera (answered on its live topic).",
    ),
    Channel.COMMAND_RESULT: ChannelDoc(
        topics.command_result(_AGENT), "agent", "central", "The outcome of a command."
    ),
    Channel.CONFIRMATION: ChannelDoc(
        topics.confirmations(_AGENT),
        "central (ingest, after each commit)",
        "the named agent",
        "Which of the agent's reports central has stored: the agent keeps every report in its outbox "
        "until one of these names it, and sends it again (same msg_id) if none does in time.",
    ),
    Channel.LIVE_FRAME: ChannelDoc(
        topics.live_frames(_AGENT, _CAMERA),
        "agent (while a live_start lease holds)",
        "central (the web processes of open live views)",
        "A camera's live view as JPEG frames, QoS 0 (a late frame is worth nothing: dropped, never resent), "
        "never retained (central clears a retained one), outside agents/# so the ingest never receives it. "
        "Binary framing as the thumbnail: "
        "4-byte big-endian length N, N bytes of JSON header (the live_frame schema), then size_bytes of JPEG; "
        "the stream's last message (state ended or failed, with the camera's reason) carries no image. "
        "A message with still=true answers snapshot_now (one full-resolution frame, or failed with the reason) "
        "and is not part of a stream. "
        "See docs/live-view.md.",
        binary=True,
        qos=0,
    ),
    Channel.PUBLIC_REGENCY: ChannelDoc(
        topics.public_regency(_REGENCY),
        "central",
        "third parties (reader certificates)",
        "Retained per-regency rollup: regency, name, rollout stage, agents online and total, cameras by status "
        "and total, websites by state and total. Regency 16 is the province's own offices (when central has "
        "some configured): their cameras, websites and agents, counted under no regency.",
    ),
    Channel.PUBLIC_CAMERA: ChannelDoc(
        topics.public_camera(_REGENCY, _AGENT, _CAMERA),
        "central",
        "third parties (reader certificates)",
        "Retained current status of one camera: regency, agent, camera id, name, OPD, status, reason code and "
        "since when; never its network address or an agent's own words. An empty retained message clears a "
        "retired camera.",
    ),
    Channel.PUBLIC_WEBSITE: ChannelDoc(
        topics.public_website(_REGENCY, _AGENT, _WEBSITE),
        "central",
        "third parties (reader certificates)",
        "Retained current status of one OPD website: regency, agent, website id, its public URL, OPD, "
        "availability, freshness, last update and reason code.",
    ),
    Channel.PUBLIC_ALERTS: ChannelDoc(
        topics.PUBLIC_ALERTS_TOPIC,
        "central",
        "third parties (reader certificates)",
        "Alerts as they fire and resolve, not retained: alert id, rule, state, severity, regency, subject and "
        "message in Indonesian (central's wording: names, reason codes, counts), start and end.",
    ),
}

_PARAMETERS = {
    "agent": "Agent name: the CN of the agent's certificate.",
    "camera_id": "Camera id, unique within its agent.",
    "website_id": "Website id, unique within its agent.",
    "regency": "Kemendagri code of the regency, e.g. 16.71 (Palembang), or 16: the province's own offices "
    "(Pemprov), whose cameras and websites are filed under 16 whatever regency their agent's certificate names.",
    "command": "Command name: check_now, rediscover, thumbnail_now, live_start, live_stop or snapshot_now.",
}


def _kind(model: type[Strict]) -> str:
    return str(model.model_fields["kind"].default)


def json_schemas() -> dict[str, dict[str, Any]]:
    """One standalone JSON Schema per message kind, keyed by kind."""
    schemas = {}
    for model in ALL_MODELS:
        schema = model.model_json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://scc.sumselprov.go.id/schemas/v{SCHEMA_VERSION}/{_kind(model)}.json"
        schemas[_kind(model)] = schema
    return schemas


def _message(model: type[Strict], doc: ChannelDoc) -> dict[str, Any]:
    """One message of a channel: its JSON payload's schema, or a frame's binary layout and JSON header."""
    message: dict[str, Any] = {
        "name": _kind(model),
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip().splitlines()[0],
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
    }
    if doc.binary:
        message["contentType"] = "application/octet-stream"
        message["payload"] = {
            "type": "string",
            "format": "binary",
            "description": "4-byte big-endian header length N | N bytes of JSON header | JPEG bytes",
        }
        message["x-scc-header"] = {"$ref": f"#/components/schemas/{model.__name__}"}
    return message


def _channel(channel: Channel, doc: ChannelDoc, kinds: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "address": doc.address,
        "title": channel.value,
        "description": f"{doc.description} Published by {doc.publisher}; read by {doc.subscribers}.",
        "messages": {kind: {"$ref": f"#/components/messages/{kind}"} for kind in kinds},
    }
    params = {name: {"description": text} for name, text in _PARAMETERS.items() if "{" + name + "}" in doc.address}
    if params:
        entry["parameters"] = params
    return entry


def _operation(channel: Channel, doc: ChannelDoc, kinds: list[str]) -> dict[str, Any]:
    """Who sends on the channel, with its MQTT binding (QoS, retain)."""
    retain = channel in RETAINED_CHANNELS
    return {
        "action": "send",
        "title": f"{doc.publisher} publishes {channel.value}",
        "summary": f"{doc.publisher} -> {doc.subscribers}; QoS {doc.qos}, retain {str(retain).lower()}.",
        "channel": {"$ref": f"#/channels/{channel.value}"},
        "messages": [{"$ref": f"#/channels/{channel.value}/messages/{kind}"} for kind in kinds],
        "bindings": {"mqtt": {"qos": doc.qos, "retain": retain, "bindingVersion": "0.2.0"}},
    }


_INFO = {
    "title": "SCC — Sumsel Command Center MQTT contract",
    "version": f"{SCHEMA_VERSION}.0.0",
    "description": (
        "Edge agents in South Sumatra's regencies report cameras, websites and host health to "
        "central; central republishes curated state for third parties under scc/v1/public/. "
        "Every payload carries schema_version, kind, a unique msg_id and ts (UTC); agent "
        f"payloads also carry agent and a per-agent seq. Payloads over {MAX_PAYLOAD_BYTES} bytes "
        "are refused. Generated by `python -m shared.contract`; do not edit by hand."
    ),
}

_SERVERS = {
    "broker": {
        "host": "scc-broker:8883",
        "protocol": "secure-mqtt",
        "protocolVersion": "5",
        "description": "Mosquitto with mutual TLS: the certificate CN is the MQTT username.",
        "security": [{"$ref": "#/components/securitySchemes/mutualTls"}],
    }
}

_SECURITY_SCHEMES = {
    "mutualTls": {
        "type": "X509",
        "description": "Client certificate issued by `scc-provision`; its CN names the agent.",
    }
}


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document describing every channel: direction, QoS, retain, payload."""
    component_schemas: dict[str, Any] = {}
    for model in ALL_MODELS:
        schema = model.model_json_schema(mode="validation", ref_template="#/components/schemas/{model}")
        component_schemas.update(schema.pop("$defs", {}))
        component_schemas[model.__name__] = schema
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel, doc in CHANNELS.items():
        kinds = [_kind(model) for model in CHANNEL_MODELS[channel]]
        messages.update({_kind(model): _message(model, doc) for model in CHANNEL_MODELS[channel]})
        channels[channel.value] = _channel(channel, doc, kinds)
        operations[f"publish_{channel.value}"] = _operation(channel, doc, kinds)
    return {
        "asyncapi": "3.0.0",
        "info": _INFO,
        "defaultContentType": "application/json",
        "servers": _SERVERS,
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(component_schemas.items())),
            "messages": messages,
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


def render_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_asyncapi() -> str:
    return yaml.safe_dump(asyncapi_document(), sort_keys=False, allow_unicode=True, width=110)


def expected_files() -> dict[Path, str]:
    """Every generated file and the text it must hold."""
    files = {SCHEMAS_DIR / f"{kind}.json": render_schema(schema) for kind, schema in json_schemas().items()}
    files[ASYNCAPI_PATH] = render_asyncapi()
    return files


def main() -> int:
    SCHEMAS_DIR.mkdir(exist_ok=True)
    expected = expected_files()
    for stale in SCHEMAS_DIR.glob("*.json"):
        if stale not in expected:
            stale.unlink()
    for path, text in expected.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(PACKAGE_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
