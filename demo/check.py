"""Ask central's REST API whether the demo shows 17 regencies, 3 of them integrated with live cameras."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REGENCIES_PATH = "/api/v1/regencies"


@dataclass(frozen=True, slots=True)
class Picture:
    """What the API shows: how many regencies, which are integrated, and their live camera counts."""

    regencies: int
    integrated: tuple[str, ...]
    live_cameras: Mapping[str, int]

    def describe(self) -> str:
        live = ", ".join(f"{code}: {count}" for code, count in sorted(self.live_cameras.items()))
        return f"{self.regencies} regencies, integrated {list(self.integrated)}, live cameras {{{live}}}"


def fetch_regencies(base_url: str, token: str | None) -> Any:
    request = urllib.request.Request(
        base_url.rstrip("/") + REGENCIES_PATH, headers={"Accept": "application/json"}
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# INTEGRATION POINT (central/api): the field names below are read tolerantly until the API's schema is
# settled; whichever of these names the API uses is taken.
_INTEGRATED_FLAGS = ("integrated", "is_integrated")
_STAGE_KEYS = ("stage", "rollout_stage", "status")
_LIVE_KEYS = ("cameras_online", "online_cameras", "live_cameras", "cameras_live", "cameras_ok")


def _items(payload: Any) -> list[Mapping[str, Any]]:
    if isinstance(payload, Mapping):
        for key in ("regencies", "items", "data"):
            if isinstance(payload.get(key), list):
                payload = payload[key]
                break
    return [item for item in payload if isinstance(item, Mapping)] if isinstance(payload, list) else []


def _integrated(item: Mapping[str, Any]) -> bool:
    for key in _INTEGRATED_FLAGS:
        if key in item:
            return bool(item[key])
    rollout = item.get("rollout")
    if isinstance(rollout, Mapping):
        return _integrated(rollout)
    for key in _STAGE_KEYS:
        if isinstance(item.get(key), str):
            return item[key].lower() in {"integrated", "live", "operational"}
    return False


def _live_cameras(item: Mapping[str, Any]) -> int:
    for key in _LIVE_KEYS:
        value = item.get(key)
        if isinstance(value, int):
            return value
    cameras = item.get("cameras")
    if isinstance(cameras, Mapping):
        for key in ("online", "live", "ok", *_LIVE_KEYS):
            if isinstance(cameras.get(key), int):
                return int(cameras[key])
        by_status = cameras.get("by_status")
        if isinstance(by_status, Mapping):
            return sum(int(v) for k, v in by_status.items() if k in {"ok", "online", "warn", "degraded"})
    return 0


def read_picture(payload: Any) -> Picture:
    items = _items(payload)
    integrated = tuple(sorted(str(item.get("code")) for item in items if _integrated(item)))
    live = {str(item.get("code")): _live_cameras(item) for item in items if _integrated(item)}
    return Picture(regencies=len(items), integrated=integrated, live_cameras=live)


def picture_is_complete(picture: Picture, expected: Iterable[str]) -> bool:
    wanted = set(expected)
    return (
        picture.regencies == 17
        and wanted <= set(picture.integrated)
        and all(picture.live_cameras.get(code, 0) > 0 for code in wanted)
    )


def wait_for_picture(
    base_url: str,
    token: str | None,
    expected: Iterable[str],
    timeout: float,
    alive: Callable[[], bool] = lambda: True,
    say: Callable[[str], None] = print,
) -> Picture:
    """Poll until the API shows the whole demo; raise TimeoutError with the last picture otherwise."""
    wanted = tuple(expected)
    deadline = time.monotonic() + timeout
    last: Picture | None = None
    last_error = ""
    shown = ""
    while time.monotonic() < deadline and alive():
        try:
            last = read_picture(fetch_regencies(base_url, token))
            if picture_is_complete(last, wanted):
                return last
            if last.describe() != shown:
                shown = last.describe()
                say(f"check: {shown}")
        except (urllib.error.URLError, OSError, ValueError) as error:
            last_error = str(error)
        time.sleep(3)
    seen = last.describe() if last else f"no answer ({last_error})"
    raise TimeoutError(
        f"the API never showed 17 regencies with {list(wanted)} integrated and live; last: {seen}"
    )
