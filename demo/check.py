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
    # limit: all 17 on one page (the API pages its lists).
    request = urllib.request.Request(
        base_url.rstrip("/") + REGENCIES_PATH + "?limit=100", headers={"Accept": "application/json"}
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# A regency counts as integrated from the rollout stage "agent_online" on (central/web/province.py), and a
# camera as live when it is ok or degraded: both still deliver a picture (central/api/schemas.py).
INTEGRATED_STAGES = frozenset({"agent_online", "cameras_integrated", "websites_integrated", "complete"})


def _items(payload: Any) -> list[Mapping[str, Any]]:
    items = payload.get("items") if isinstance(payload, Mapping) else None
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def _integrated(item: Mapping[str, Any]) -> bool:
    return item.get("stage") in INTEGRATED_STAGES


def _live_cameras(item: Mapping[str, Any]) -> int:
    cameras = item.get("cameras")
    if not isinstance(cameras, Mapping):
        return 0
    return int(cameras.get("ok", 0)) + int(cameras.get("degraded", 0))


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
