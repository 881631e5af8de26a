"""Rollout stages derived from live data, tile health, and the rollup cache following the change feed."""

from __future__ import annotations

import datetime as dt
import re

from flask.testing import FlaskClient
from sqlalchemy import insert

from central.rollout import derive_stage
from central.storage.db import Database
from central.storage.models import Event, RolloutStage
from central.web.province import Health, RegencyRollup, RollupCache, derive_health
from tests.central.web.seed import Seeded

SEEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def rollup(**values: object) -> RegencyRollup:
    return RegencyRollup(code="16.71", name="Palembang", kind="Kota", slug="palembang", **values)  # type: ignore[arg-type]


def test_stages_follow_live_data() -> None:
    assert derive_stage(rollup()) is RolloutStage.PLANNED
    assert derive_stage(rollup(stored_stage="box_installed")) is RolloutStage.BOX_INSTALLED
    online = {"agents_total": 1, "agents_online": 1, "last_seen_at": SEEN}
    assert derive_stage(rollup(**online, target_cameras=10, cameras_ok=4)) is RolloutStage.AGENT_ONLINE
    assert (
        derive_stage(rollup(**online, target_cameras=10, cameras_ok=9, cameras_offline=1))
        is RolloutStage.CAMERAS_INTEGRATED
    )
    both = {"target_cameras": 2, "cameras_ok": 2, "target_websites": 1, "websites_fresh": 1}
    assert derive_stage(rollup(**online, **both)) is RolloutStage.WEBSITES_INTEGRATED
    assert derive_stage(rollup(**online, **both, completed_on=dt.date(2026, 2, 1))) is RolloutStage.COMPLETE


def test_health_colours() -> None:
    online = {"agents_total": 1, "agents_online": 1, "last_seen_at": SEEN}
    assert derive_health(rollup()) is Health.INACTIVE
    assert derive_health(rollup(**online, cameras_ok=10)) is Health.OK
    assert derive_health(rollup(**online, cameras_ok=9, cameras_degraded=1)) is Health.OK  # one degraded of ten
    assert derive_health(rollup(**online, cameras_ok=9, cameras_offline=1)) is Health.WARN
    assert derive_health(rollup(**online, cameras_ok=8, cameras_offline=2)) is Health.CRITICAL
    assert (
        derive_health(rollup(agents_total=1, agents_online=0, last_seen_at=SEEN, cameras_ok=5))
        is Health.CRITICAL
    )


def test_cache_is_reused_until_the_change_feed_moves(web_database: Database, seeded: Seeded) -> None:
    cache = RollupCache(ttl_s=60)
    with web_database.session() as session:
        first = cache.get(session)
        assert cache.get(session) is first
    with web_database.engine.begin() as conn:
        conn.execute(
            insert(Event),
            [{"ts": SEEN, "created_at": SEEN, "kind": "camera_status", "regency_code": "16.71"}],
        )
    with web_database.session() as session:
        assert cache.get(session) is not first


def test_the_province_offices_are_their_own_owner(web_database: Database, seeded: Seeded) -> None:
    """What a [province] agent reports leaves the regency on its certificate and counts for the province."""
    from central.config import ProvinceConfig
    from central.storage.queries import websites_query
    from central.web.province import compute_rollup

    with web_database.session() as session:
        plain = compute_rollup(session)
        split = compute_rollup(session, province=ProvinceConfig(name="Pemprov Sumsel", agents=["agent-1674"]))
        province_sites = list(session.scalars(websites_query(province=True, province_agents=["agent-1674"])))
        regency_sites = list(session.scalars(websites_query("16.74", province_agents=["agent-1674"])))
    assert plain.offices is None
    assert split.offices is not None and split.offices.display_name == "Pemprov Sumsel"
    before = plain.by_code["16.74"]
    assert (split.offices.cameras_total, split.offices.websites_total) == (before.cameras_total, before.websites_total)
    assert split.by_code["16.74"].cameras_total == split.by_code["16.74"].websites_total == 0
    assert split.by_code["16.74"].health is Health.INACTIVE  # its only agent is the province's
    assert split.cameras_total == plain.cameras_total and split.totals.websites_total == plain.totals.websites_total
    assert split.regencies_integrated == plain.regencies_integrated - 1
    assert {w.agent_name for w in province_sites} == {"agent-1674"} and len(province_sites) == before.websites_total
    assert regency_sites == []
    assert split.worst_first[-1].health is Health.INACTIVE and split.offices in split.worst_first


def test_websites_are_listed_worst_kept_first(web_database: Database, seeded: Seeded) -> None:
    from central.storage.queries import websites_query

    with web_database.session() as session:
        states = [w.state for w in session.scalars(websites_query())]
    order = ["down", "stale", "unknown", "fresh"]
    assert states == sorted(states, key=order.index) and states[0] == "down"


def test_the_websites_page_says_how_long_a_site_has_been_down(viewer: FlaskClient) -> None:
    html = viewer.get("/websites?state=down&lang=id").text
    assert re.search(r'class="down-for n-offline">\d+ (mnt|jam|hari)', html)
