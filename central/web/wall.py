"""The video wall: every camera, problems first, paged across screens, with the province strip and the alarm.

A screen is one page of one regency's (or one group's) cameras: a regency with more cameras than fit
gets as many screens as it needs, so no camera is ever left off. ``per`` (tiles per screen) comes from
the browser, which picks it from its own size (static/app.js); the server clamps it. Screens rotate
worst regency first. Every screen carries the province strip (all regencies and the province's own
offices, worst first), the cameras down longest and the alarm for unacknowledged critical alerts.

``/wall?live=<group>`` is one fixed screen of that group's (venue's) cameras, the first
``[live_view] wall_tiles`` of them live (each tile a live view: same role, regency scope and audit),
for watching a venue during an event; it does not rotate, and its tiles are not refreshed (the picture
is live). An agent's link carries only so many streams (``[live_view] agent_kbps / stream_kbps``):
a tile past that for its agent says so ("di luar anggaran bandwidth") instead of starting a stream.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue

from central.alerts import queries as alert_queries
from central.config import CentralConfig, LiveViewConfig
from central.storage import queries
from central.storage.models import Camera
from central.web import scope
from central.web.auth import login_required
from central.web.cartogram import ABBREVIATIONS
from central.web.database import db_session
from central.web.live_view import may_watch
from central.web.province import RegencyRollup, province_rollup
from central.web.reasons import details_for
from shared.regencies import is_regency_code

bp = Blueprint("wall", __name__)

DEFAULT_TILES = 24
MIN_TILES, MAX_TILES = 1, 48
LONGEST_DOWN_SHOWN = 5
# A strip cell is about 210 px wide on a 1080p wall: longer names give way to the usual abbreviation.
STRIP_NAME_CHARS = 14
# On the wall every tile is a camera: a leading "CCTV" says nothing and pushes the distinguishing part out.
GENERIC_PREFIXES = ("cctv ", "kamera ", "camera ", "cam ")


@dataclass(frozen=True, slots=True)
class Screen:
    regency: str
    group: str | None
    page: int  # 0-based page within the regency (or group)
    pages: int


def strip_name(r: RegencyRollup) -> str:
    """A name that fits a strip cell: the regency's own when short, else its usual abbreviation."""
    if len(r.name) <= STRIP_NAME_CHARS or r.is_province:
        return r.name
    return ABBREVIATIONS.get(r.code, r.name)


def tile_name(label: str) -> str:
    """The camera's name without a generic leading word; the tile shows it on up to two lines."""
    lowered = label.lower()
    for prefix in GENERIC_PREFIXES:
        if lowered.startswith(prefix) and len(label) > len(prefix):
            return label[len(prefix):]
    return label


def _province_agents() -> tuple[str, ...]:
    """[province] agents: their cameras are the province's offices' ("16", a screen of its own, as the
    rollup counts them), not their certificate's regency's."""
    return tuple(current_app.config["SCC"].province.agents)


def _screens(mode: str, fixed: str | None, per: int) -> list[Screen]:
    """Every screen of the rotation, in order: regencies worst first, each paged until all cameras are shown."""
    session = db_session()
    agents = _province_agents()
    sizes: list[tuple[str, str | None, int]]
    if fixed:
        total = queries.count_cameras(session, queries.CameraFilter(regency=fixed, province_agents=agents))
        sizes = [(fixed, None, total)]
    elif mode == "group":
        sizes = [
            (code, venue, queries.count_cameras(
                session, queries.CameraFilter(regency=code, group=venue, province_agents=agents)))
            for code, venue in queries.camera_groups(session, scope.within(), agents)
        ]  # fmt: skip
    else:
        sizes = [
            (r.code, None, r.cameras_total)
            for r in province_rollup().worst_first
            if r.cameras_total and scope.sees(r.code)
        ]
    screens: list[Screen] = []
    for code, group, total in sizes:
        pages = max(math.ceil(total / per), 1)
        screens.extend(Screen(code, group, page, pages) for page in range(pages))
    return screens


def live_tile_states(cameras: list[Camera], tiles: int, settings: LiveViewConfig) -> dict[int, str]:
    """Each live candidate's tile: ``live``, or ``over_budget`` when its agent already streams as many
    cameras as its link's budget allows. The first ``tiles`` cameras are the candidates; the rest show
    their snapshots."""
    streams: dict[str, int] = {}
    states: dict[int, str] = {}
    for camera in cameras[:tiles]:
        count = streams.get(camera.agent_name, 0)
        if count >= settings.streams_within_budget(camera.agent_name):
            states[camera.id] = "over_budget"
        else:
            streams[camera.agent_name] = count + 1
            states[camera.id] = "live"
    return states


def _tiles_per_screen() -> int:
    per = request.args.get("per", DEFAULT_TILES, type=int) or DEFAULT_TILES
    return min(max(per, MIN_TILES), MAX_TILES)


@bp.route("/wall")
@login_required
def wall() -> ResponseReturnValue:
    mode = "group" if request.args.get("mode") == "group" else "regency"
    fixed = request.args.get("regency")
    fixed = fixed if fixed and is_regency_code(fixed) else None
    if fixed:
        scope.require(fixed, f"regency {fixed}")
    within = scope.within()  # a regency account's wall: its regencies only, strip and alarms included
    per = _tiles_per_screen()
    live = request.args.get("live", "")[:256]
    session = db_session()
    live_states: dict[int, str] = {}
    if live:
        if not may_watch():
            abort(403, description="live tiles need a role allowed by [live_view] min_role")
        filters = queries.CameraFilter(within=within, group=live, province_agents=_province_agents())
        cameras = queries.list_cameras(session, filters, per, 0)
        if not cameras:
            abort(404, description=f"no cameras in group {live!r}")
        screens = [Screen(cameras[0].regency_code, live, 0, 1)]
        config: CentralConfig = current_app.config["SCC"]
        live_states = live_tile_states(cameras, config.live_view.wall_tiles, config.live_view)
    else:
        screens = _screens(mode, fixed, per)
    index = request.args.get("screen", 0, type=int) or 0
    index = index % len(screens) if screens else 0
    screen = screens[index] if screens else None
    if screen is not None and not live:
        filters = queries.CameraFilter(regency=screen.regency, group=screen.group, province_agents=_province_agents())
        cameras = queries.list_cameras(session, filters, per, screen.page * per)
    elif not live:
        cameras = []
    checks = queries.latest_check_details(session, [c.id for c in cameras if c.status not in ("ok", "unknown")])
    next_args: dict[str, object] = {"mode": mode, "screen": index + 1, "per": per}
    if fixed:
        next_args["regency"] = fixed
    if live:  # a live wall stays on its group
        next_args = {"live": live, "per": per}
    rollup = province_rollup()
    now = dt.datetime.now(dt.UTC)
    return render_template(
        "wall.html",
        cameras=cameras,
        shas=queries.latest_thumbnail_shas(session, [c.id for c in cameras]),
        details={c.id: details_for(checks.get(c.id), c.reason) for c in cameras},
        summary=rollup.by_code.get(screen.regency) if screen else None,
        screen=screen,
        strip=[r for r in rollup.worst_first if scope.sees(r.code)],
        position=index,
        screens=len(screens),
        per=per,
        live=bool(live),
        live_states=live_states,
        next_url=url_for("wall.wall", **next_args),  # type: ignore[arg-type]
        rotate_s=current_app.config["WALL_ROTATE_S"],
        refresh_s=current_app.config["WALL_REFRESH_S"],
        longest_down=queries.longest_down(session, LONGEST_DOWN_SHOWN, within=within),
        alarms=alert_queries.unacknowledged_critical(session, within=within),
        acknowledged=alert_queries.recently_acknowledged_critical(session, limit=3, within=within),
        strip_name=strip_name,
        tile_name=tile_name,
        now=now,
    )
