"""The MQTT topic tree under ``scc/v1/``: builders, the parser, and the identifier rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ROOT = "scc/v1"
AGENTS = f"{ROOT}/agents"
PUBLIC = f"{ROOT}/public"
CONFIRMATIONS = f"{ROOT}/confirmations"
# Live frames have their own tree beside agents/: the ingest subscribes to agents/#, and must never
# receive (and discard) a live stream's hundreds of kilobytes a second.
LIVE = f"{ROOT}/live"

# Agent, camera and website ids become topic levels and certificate CNs: no MQTT wildcards, no
# separators, nothing a shell or a URL would need quoting for.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
REGENCY_CODE_PATTERN = r"^16\.\d{2}$"
# Whose a camera or website is: a regency ("16.71") or the province's own offices ("16"); the public
# topics file every camera, website and summary under its owner.
OWNER_CODE_PATTERN = r"^16(\.\d{2})?$"
_OWNER_CODE = re.compile(OWNER_CODE_PATTERN)


def is_identifier(value: str) -> bool:
    return bool(_IDENTIFIER.fullmatch(value))


def check_identifier(value: str, what: str) -> str:
    """Return ``value`` if it is a valid id, else raise ValueError saying which id and why."""
    if not is_identifier(value):
        raise ValueError(
            f"{what} {value!r} is not a valid id: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


class Channel(StrEnum):
    """Each kind of topic; the AsyncAPI document lists one channel per member."""

    AVAILABILITY = "availability"
    METRICS = "metrics"
    INVENTORY = "inventory"
    CAMERA_STATUS = "camera_status"
    CAMERA_THUMBNAIL = "camera_thumbnail"
    WEBSITE_STATUS = "website_status"
    COMMAND = "command"
    COMMAND_RESULT = "command_result"
    CONFIRMATION = "confirmation"
    LIVE_FRAME = "live_frame"
    PUBLIC_REGENCY = "public_regency"
    PUBLIC_CAMERA = "public_camera"
    PUBLIC_WEBSITE = "public_website"
    PUBLIC_ALERTS = "public_alerts"


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """What a topic names: its channel and the ids in it."""

    channel: Channel
    agent: str | None = None
    camera_id: str | None = None
    website_id: str | None = None
    command: str | None = None
    regency: str | None = None


# --- builders --------------------------------------------------------------------------------


def agent_prefix(agent: str) -> str:
    return f"{AGENTS}/{agent}"


def availability(agent: str) -> str:
    return f"{AGENTS}/{agent}/availability"


def metrics(agent: str) -> str:
    return f"{AGENTS}/{agent}/metrics"


def inventory(agent: str) -> str:
    return f"{AGENTS}/{agent}/inventory"


def camera_status(agent: str, camera_id: str) -> str:
    return f"{AGENTS}/{agent}/cameras/{camera_id}/status"


def camera_thumbnail(agent: str, camera_id: str) -> str:
    return f"{AGENTS}/{agent}/cameras/{camera_id}/thumbnail"


def website_status(agent: str, website_id: str) -> str:
    return f"{AGENTS}/{agent}/websites/{website_id}/status"


def command(agent: str, name: str) -> str:
    return f"{AGENTS}/{agent}/cmd/{name}"


def command_subscription(agent: str) -> str:
    return f"{AGENTS}/{agent}/cmd/#"


def command_result(agent: str) -> str:
    return f"{AGENTS}/{agent}/cmd_result"


def confirmations(agent: str) -> str:
    """Where central tells one agent which of its reports are stored (outside agents/#: no echo to ingest)."""
    return f"{CONFIRMATIONS}/{agent}"


def live_frames(agent: str, camera_id: str) -> str:
    """Where an agent publishes one camera's live view (QoS 0, never retained)."""
    return f"{LIVE}/{agent}/{camera_id}"


def public_regency(regency: str) -> str:
    return f"{PUBLIC}/regencies/{regency}/summary"


def public_camera(regency: str, agent: str, camera_id: str) -> str:
    return f"{PUBLIC}/regencies/{regency}/cameras/{agent}/{camera_id}"


def public_website(regency: str, agent: str, website_id: str) -> str:
    return f"{PUBLIC}/regencies/{regency}/websites/{agent}/{website_id}"


PUBLIC_ALERTS_TOPIC = f"{PUBLIC}/alerts"

# Subscriptions central and readers use.
ALL_AGENT_TOPICS = f"{AGENTS}/#"
ALL_PUBLIC_TOPICS = f"{PUBLIC}/#"

# --- parser ----------------------------------------------------------------------------------


class TopicError(ValueError):
    """A topic outside the tree, or with an invalid id in it."""


def parse(topic: str) -> TopicInfo:
    """Name the channel and ids of a topic, or raise TopicError saying what does not fit."""
    if not topic.startswith(ROOT + "/"):
        raise TopicError(f"topic {topic!r} is outside {ROOT}/")
    parts = topic[len(ROOT) + 1 :].split("/")
    if parts[0] == "agents":
        info = _parse_agent(parts)
    elif parts[0] == "confirmations":
        info = TopicInfo(Channel.CONFIRMATION, agent=parts[1]) if len(parts) == 2 else None
    elif parts[0] == "live":
        info = TopicInfo(Channel.LIVE_FRAME, agent=parts[1], camera_id=parts[2]) if len(parts) == 3 else None
    else:
        info = _parse_public(parts)
    if info is None:
        raise TopicError(f"topic {topic!r} is not a known SCC channel")
    for what, value in (
        ("agent", info.agent),
        ("camera id", info.camera_id),
        ("website id", info.website_id),
        ("command", info.command),
    ):
        if value is not None and not is_identifier(value):
            raise TopicError(f"topic {topic!r}: {what} {value!r} is not a valid id")
    if info.regency is not None and not _OWNER_CODE.fullmatch(info.regency):
        raise TopicError(f"topic {topic!r}: regency {info.regency!r} is not a code like 16.71 (or 16)")
    return info


_AGENT_LEAVES = {
    ("availability",): Channel.AVAILABILITY,
    ("metrics",): Channel.METRICS,
    ("inventory",): Channel.INVENTORY,
    ("cmd_result",): Channel.COMMAND_RESULT,
}


def _parse_agent(parts: list[str]) -> TopicInfo | None:
    if len(parts) < 3:
        return None
    agent, rest = parts[1], tuple(parts[2:])
    if rest in _AGENT_LEAVES:
        return TopicInfo(_AGENT_LEAVES[rest], agent=agent)
    if len(rest) == 3 and rest[0] == "cameras" and rest[2] == "status":
        return TopicInfo(Channel.CAMERA_STATUS, agent=agent, camera_id=rest[1])
    if len(rest) == 3 and rest[0] == "cameras" and rest[2] == "thumbnail":
        return TopicInfo(Channel.CAMERA_THUMBNAIL, agent=agent, camera_id=rest[1])
    if len(rest) == 3 and rest[0] == "websites" and rest[2] == "status":
        return TopicInfo(Channel.WEBSITE_STATUS, agent=agent, website_id=rest[1])
    if len(rest) == 2 and rest[0] == "cmd":
        return TopicInfo(Channel.COMMAND, agent=agent, command=rest[1])
    return None


def _parse_public(parts: list[str]) -> TopicInfo | None:
    if parts[0] != "public":
        return None
    if parts[1:] == ["alerts"]:
        return TopicInfo(Channel.PUBLIC_ALERTS)
    if len(parts) >= 4 and parts[1] == "regencies":
        regency, rest = parts[2], parts[3:]
        if rest == ["summary"]:
            return TopicInfo(Channel.PUBLIC_REGENCY, regency=regency)
        if len(rest) == 3 and rest[0] == "cameras":
            return TopicInfo(Channel.PUBLIC_CAMERA, regency=regency, agent=rest[1], camera_id=rest[2])
        if len(rest) == 3 and rest[0] == "websites":
            return TopicInfo(Channel.PUBLIC_WEBSITE, regency=regency, agent=rest[1], website_id=rest[2])
    return None
