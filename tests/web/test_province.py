"""Rollout stages derived from live data, tile health, and the rollup cache following the change feed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from central.storage.db import Database
from central.storage.models import Event
from central.web.province import Health, RegencyRollup, RollupCache, Stage, derive_health, derive_stage
from tests.web.seed import Seeded

SEEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def rollup(**values: object) -> RegencyRollup:
    return RegencyRollup(code="16.71", name="Palembang", kind="Kota", slug="palembang", **values)  # type: ignore[arg-type]


def test_stages_follow_live_data() -> None:
    assert derive_stage(rollup()) is Stage.PLANNED
    assert derive_stage(rollup(stored_stage="installing")) is Stage.BOX_INSTALLED
    online = {"agents_total": 1, "agents_online": 1, "last_seen_at": SEEN}
    assert derive_stage(rollup(**online, target_cameras=10, cameras_ok=4)) is Stage.AGENT_ONLINE
    assert (
        derive_stage(rollup(**online, target_cameras=10, cameras_ok=9, cameras_offline=1))
        is Stage.CAMERAS_INTEGRATED
    )
    both = {"target_cameras": 2, "cameras_ok": 2, "target_websites": 1, "websites_fresh": 1}
    assert derive_stage(rollup(**online, **both)) is Stage.WEBSITES_INTEGRATED
    assert derive_stage(rollup(**online, **both, completed_on=dt.date(2026, 2, 1))) is Stage.COMPLETE


def test_health_colours() -> None:
    online = {"agents_total": 1, "agents_online": 1, "last_seen_at": SEEN}
    assert derive_health(rollup()) is Health.INACTIVE
    assert derive_health(rollup(**online, cameras_ok=10)) is Health.OK
    assert derive_health(rollup(**online, cameras_ok=9, cameras_degraded=1)) is Health.WARN
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
