"""Curated state for third parties: retained messages under scc/v1/public/, staged in the database first.

Curated: states, reason codes, names and counts, never a camera's address or the free text an agent
or a device wrote (error strings name hosts and ports); docs/third-party.md lists each field.

Every change is written to ``public_state`` (an outbox), with the topic's sequence number incremented
only when the content really changed. The ingest worker stages the cameras and websites its batches
changed in a transaction of its own after their commits, coalesced every few hundred milliseconds (the
report-write turn stays short), and stages every camera and website when it starts, so a crash between
a commit and its staging is made good at the restart. It publishes rows whose ``published_seq`` lags
``seq`` after staging and again after a restart, so a crash between commit and publish delays a
retained update but never loses it.

Every camera, website and summary is filed under its owner (:func:`central.storage.queries.owner_code`,
the rule web, API and alerts follow): what the ``province_agents`` (central.toml ``[province] agents``)
report is the province's own offices', code "16", with a summary of their own, whatever regency their
certificate names. A topic no camera or website is filed under any more (the configured agents
changed) is cleared at start-up (:func:`stage_moved`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Collection, Iterable
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from central.rollout import derive_stage
from central.storage.db import chunked
from central.storage.models import Camera, PublicState, Website
from central.storage.queries import RegencyCounts, owner_code, province_counts, regency_counts
from shared import codec, topics
from shared.messages import Message, PublicCameraStatus, PublicWebsiteStatus, RegencySummary
from shared.regencies import PROVINCE_CODE, PROVINCE_OFFICES_NAME

log = logging.getLogger(__name__)

public_state = cast(Table, PublicState.__table__)
cameras = cast(Table, Camera.__table__)
websites = cast(Table, Website.__table__)

_MODELS: dict[str, type[Any]] = {
    "public_camera_status": PublicCameraStatus,
    "public_website_status": PublicWebsiteStatus,
    "regency_summary": RegencySummary,
}


def all_cameras(conn: Connection) -> list[int]:
    return list(conn.execute(select(cameras.c.id)).scalars())


def all_websites(conn: Connection) -> list[int]:
    return list(conn.execute(select(websites.c.id)).scalars())


def stage_cameras(
    conn: Connection, camera_pks: Iterable[int], now: dt.datetime, province_agents: Collection[str] = ()
) -> None:
    """Stage the cameras' current state; staged after the change's own commit, so rows are locked first.

    On PostgreSQL (no write turns) two workers staging the same camera must not let the older read
    land last: FOR UPDATE orders them behind each other and behind the camera's writers. SQLite's
    writers take turns, so the read inside the staging turn is already the newest state.
    """
    pks = sorted(set(camera_pks))
    contents = {}
    postgres = conn.dialect.name == "postgresql"
    for chunk in chunked(pks):
        query = select(
            cameras.c.regency_code, cameras.c.agent_name, cameras.c.camera_id, cameras.c.display_name,
            cameras.c.name, Camera.opd.label("opd"), cameras.c.status, cameras.c.reason, cameras.c.status_since,
        ).where(cameras.c.id.in_(chunk), Camera.in_service)
        if postgres:
            query = query.order_by(cameras.c.id).with_for_update(of=cameras)
        rows = conn.execute(query).mappings()
        for row in rows:
            owner = owner_code(row["agent_name"], row["regency_code"], province_agents)
            topic = topics.public_camera(owner, row["agent_name"], row["camera_id"])
            contents[topic] = {
                "kind": "public_camera_status",
                "regency": owner,
                "agent": row["agent_name"],
                "camera_id": row["camera_id"],
                "name": (row["display_name"] or row["name"])[:256],
                "opd": row["opd"][:256],
                "status": row["status"],
                "reason": row["reason"],  # a code: the agent's message may name addresses and stays inside
                "since": _iso(row["status_since"]),
            }
    stage(conn, contents, now)


# A cleared topic's row: empty payload, published as a zero-length retained message (MQTT's "delete").
CLEARED_DIGEST = hashlib.sha256(b"").hexdigest()


def stage_retired_cameras(conn: Connection, now: dt.datetime, province_agents: Collection[str] = ()) -> None:
    """Stage a clear of every retired camera's retained public topic that still holds a status.

    Retiring takes a camera out of every total, and third parties must not keep reading its last
    status from the broker for ever. Only topics already staged are cleared (one never published
    has nothing retained), and only once: the digest of a cleared row no longer changes.
    """
    retired = conn.execute(
        select(cameras.c.regency_code, cameras.c.agent_name, cameras.c.camera_id).where(~Camera.in_service)
    ).all()
    _clear(conn, {topics.public_camera(owner_code(agent, regency, province_agents), agent, camera)
                  for regency, agent, camera in retired}, now)  # fmt: skip


def stage_moved(conn: Connection, now: dt.datetime, province_agents: Collection[str] = ()) -> None:
    """Stage a clear of every camera and website topic that no camera or website is filed under now.

    An agent added to (or taken off) ``[province] agents`` files its cameras and websites under another
    owner from the next start: the topics under the former one would otherwise keep their last retained
    status for ever, and a reader would count them twice. Run at start-up, after staging everything.
    """
    current = {
        topics.public_camera(owner_code(agent, regency, province_agents), agent, camera)
        for regency, agent, camera in conn.execute(
            select(cameras.c.regency_code, cameras.c.agent_name, cameras.c.camera_id)
        )
    }
    current |= {
        topics.public_website(owner_code(agent, regency, province_agents), agent, website)
        for regency, agent, website in conn.execute(
            select(websites.c.regency_code, websites.c.agent_name, websites.c.website_id)
        )
    }
    staged = conn.execute(
        select(public_state.c.topic).where(
            public_state.c.digest != CLEARED_DIGEST,
            or_(public_state.c.topic.like(f"{topics.PUBLIC}/regencies/%/cameras/%"),
                public_state.c.topic.like(f"{topics.PUBLIC}/regencies/%/websites/%")),
        )
    ).scalars()  # fmt: skip
    _clear(conn, set(staged) - current, now)


def _clear(conn: Connection, names: set[str], now: dt.datetime) -> None:
    """Clear these topics' staged rows (only once: a cleared row's digest no longer changes)."""
    ordered = sorted(names)
    for chunk in chunked(ordered):
        conn.execute(
            update(public_state)
            .where(public_state.c.topic.in_(chunk), public_state.c.digest != CLEARED_DIGEST)
            .values(seq=public_state.c.seq + 1, digest=CLEARED_DIGEST, payload=b"", updated_at=now)
        )


def stage_websites(
    conn: Connection, website_pks: Iterable[int], now: dt.datetime, province_agents: Collection[str] = ()
) -> None:
    pks = sorted(set(website_pks))
    contents = {}
    for chunk in chunked(pks):
        query = select(
            websites.c.regency_code, websites.c.agent_name, websites.c.website_id, websites.c.url,
            Website.opd.label("opd"), websites.c.availability, websites.c.freshness,
            websites.c.last_update, websites.c.reason,
        ).where(websites.c.id.in_(chunk), websites.c.availability != "")
        if conn.dialect.name == "postgresql":
            query = query.order_by(websites.c.id).with_for_update(of=websites)
        rows = conn.execute(query).mappings()
        for row in rows:
            owner = owner_code(row["agent_name"], row["regency_code"], province_agents)
            topic = topics.public_website(owner, row["agent_name"], row["website_id"])
            contents[topic] = {
                "kind": "public_website_status",
                "regency": owner,
                "agent": row["agent_name"],
                "website_id": row["website_id"],
                "url": row["url"],
                "opd": row["opd"][:256],
                "availability": row["availability"],
                "freshness": row["freshness"],
                "last_update": _iso(row["last_update"]),
                "reason": row["reason"],
            }
    stage(conn, contents, now)


def stage_summaries(
    conn: Connection,
    regencies: set[str] | None,
    now: dt.datetime,
    province_agents: Collection[str] = (),
    province_name: str = PROVINCE_OFFICES_NAME,
) -> None:
    """Stage RegencySummary for ``regencies`` (None: all 17), counted as the web and the API count them:
    what ``province_agents`` report is the province's own offices', not their certificate's regency's.

    With ``province_agents``, the offices' own summary (regency "16", named ``province_name``, as
    ``/api/v1/regencies/16``) is staged in every round: the regencies a batch marks changed are its
    agents' certificates', which never say "16"; one more grouped count is cheap, and an unchanged
    summary is not republished (digests).
    """
    from sqlalchemy.orm import Session

    with Session(bind=conn) as session:
        counts: list[RegencyCounts] = regency_counts(session, regencies, province_agents=province_agents)
        if province_agents:
            counts.append(province_counts(session, PROVINCE_CODE, province_name, province_agents))
    contents = {}
    for regency in counts:
        contents[topics.public_regency(regency.code)] = {
            "kind": "regency_summary",
            "regency": regency.code,
            "name": regency.name,
            "stage": derive_stage(regency).value,  # the web's and API's stage, not the recorded one
            "agents_online": regency.agents_online,
            "agents_total": regency.agents_total,
            "cameras_ok": regency.cameras_ok,
            "cameras_degraded": regency.cameras_degraded,
            "cameras_offline": regency.cameras_offline,
            "cameras_unknown": regency.cameras_unknown,
            "cameras_total": regency.cameras_total,
            "websites_fresh": regency.websites_fresh,
            "websites_stale": regency.websites_stale,
            "websites_down": regency.websites_down,
            "websites_total": regency.websites_total,
        }
    stage(conn, contents, now)


def stage(conn: Connection, contents: dict[str, dict[str, Any]], now: dt.datetime) -> None:
    """Upsert topic -> content; the sequence moves only when the content differs from the stored one."""
    if not contents:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(public_state)
    statement = statement.on_conflict_do_update(
        index_elements=["topic"],
        set_={
            "seq": public_state.c.seq + 1,
            "digest": statement.excluded.digest,
            "payload": statement.excluded.payload,
            "updated_at": statement.excluded.updated_at,
        },
        where=public_state.c.digest != statement.excluded.digest,
    )
    rows = []
    for topic in sorted(contents):
        body = json.dumps(contents[topic], sort_keys=True, separators=(",", ":")).encode()
        rows.append(
            {"topic": topic, "seq": 0, "published_seq": -1, "digest": hashlib.sha256(body).hexdigest(),
             "payload": body, "updated_at": now}
        )
    conn.execute(statement, rows)


def pending(conn: Connection, limit: int = 1000) -> list[tuple[str, int, bytes]]:
    """(topic, seq, encoded message) for rows not yet published at their current sequence (b"": clear it)."""
    rows = conn.execute(
        select(public_state.c.topic, public_state.c.seq, public_state.c.payload, public_state.c.updated_at)
        .where(public_state.c.published_seq < public_state.c.seq)
        .order_by(public_state.c.updated_at)
        .limit(limit)
    ).all()
    out = []
    for topic, seq, payload, updated_at in rows:
        if not payload:  # a clear: sent as is, a zero-length retained message
            out.append((topic, seq, b""))
            continue
        try:
            out.append((topic, seq, codec.encode(build_message(topic, seq, payload, updated_at))))
        except ValueError as error:  # a content no model accepts: a bug, not worth a crash loop
            log.error("cannot publish %s: %s", topic, error)
    return out


def build_message(topic: str, seq: int, payload: bytes, updated_at: dt.datetime) -> Message:
    content = json.loads(payload)
    model = _MODELS[content["kind"]]
    # Deterministic: re-publishing the same state (after a crash) repeats the same message.
    msg_id = hashlib.md5(f"{topic}\0{seq}".encode(), usedforsecurity=False).hexdigest()
    return cast(Message, model(**content, seq=seq, msg_id=msg_id, ts=updated_at))


def mark_published(conn: Connection, published: list[tuple[str, int]]) -> None:
    if published:
        conn.execute(
            update(public_state)
            .where(and_(public_state.c.topic == bindparam("b_topic"), public_state.c.published_seq < bindparam("b_seq")))
            .values(published_seq=bindparam("b_seq")),
            [{"b_topic": topic, "b_seq": seq} for topic, seq in published],
        )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
