"""The demo's rollout plan for /rollout: targets and dates for all 17 regencies, filled in only where unset."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from demo.scenario import DemoScenario

# The regencies not yet in the demo follow in waves this far apart, a few at a time.
WAVE_DAYS = 45
WAVE_SIZE = 5
WAVE_LENGTH_DAYS = 75
# What a regency without a demo agent plans to bring: its command room's cameras and OPD websites.
DEFAULT_CAMERAS = 24
DEFAULT_WEBSITES = 8


@dataclass(frozen=True, slots=True)
class Plan:
    target_cameras: int
    target_websites: int
    planned_start: dt.date
    target_date: dt.date
    started_on: dt.date | None = None


def demo_plans(scenario: DemoScenario, codes: list[str], today: dt.date) -> dict[str, Plan]:
    """Regencies with a demo agent started two months ago; the rest follow in waves after today.

    Dates are relative to today so that the tracker looks current whenever the demo runs.
    """
    cameras: dict[str, int] = {}
    websites: dict[str, int] = {}
    for agent in scenario.agents:
        cameras[agent.regency] = cameras.get(agent.regency, 0) + agent.cameras
        websites[agent.regency] = websites.get(agent.regency, 0) + agent.websites
    plans: dict[str, Plan] = {}
    for code in codes:
        if code in cameras:
            plans[code] = Plan(
                target_cameras=cameras[code],
                target_websites=websites[code],
                planned_start=today - dt.timedelta(days=70),
                target_date=today + dt.timedelta(days=20),
                started_on=today - dt.timedelta(days=60),
            )
    waiting = [code for code in codes if code not in cameras]
    for position, code in enumerate(waiting):
        start = today + dt.timedelta(days=WAVE_DAYS * (position // WAVE_SIZE + 1))
        plans[code] = Plan(
            target_cameras=DEFAULT_CAMERAS,
            target_websites=DEFAULT_WEBSITES,
            planned_start=start,
            target_date=start + dt.timedelta(days=WAVE_LENGTH_DAYS),
        )
    return plans


def ensure_rollout_plan(central_config: Path, scenario: DemoScenario, today: dt.date | None = None) -> int:
    """Write the demo plan into rows an operator has not planned yet; returns how many rows changed.

    A row counts as planned once it has a target or a date, so edits made with "Ubah rencana" on
    /rollout survive the next start of the demo.
    """
    # Imported here, like demo.accounts: the orchestrator itself must start even while central is half built.
    from sqlalchemy import select

    from central.config import load_config
    from central.storage.db import Database
    from central.storage.models import Rollout

    database = Database.from_config(load_config(central_config))
    changed = 0
    try:
        with database.session(write=True) as session:
            rows: Mapping[str, Rollout] = {r.regency_code: r for r in session.scalars(select(Rollout))}
            plans = demo_plans(scenario, sorted(rows), today or dt.date.today())
            for code, plan in plans.items():
                row = rows[code]
                if row.target_cameras or row.target_websites or row.planned_start or row.target_date:
                    continue
                row.target_cameras, row.target_websites = plan.target_cameras, plan.target_websites
                row.planned_start, row.target_date = plan.planned_start, plan.target_date
                row.started_on = row.started_on or plan.started_on
                row.updated_by = "demo"
                changed += 1
    finally:
        database.dispose()
    return changed
