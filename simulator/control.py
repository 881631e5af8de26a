"""The fleet's small JSON control API: list cameras, set and clear faults at run time."""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from simulator.faults import FaultError, FaultValue, normalise_value, parse_fault_name
from simulator.httpserver import Request, Response

_CAMERA = re.compile(r"^/cameras/(?P<camera>[A-Za-z0-9_-]+)(?P<rest>/faults(?:/(?P<fault>[a-z_-]+))?)?$")


class FaultController(Protocol):
    """What the control API needs from the fleet."""

    def describe_json(self) -> dict[str, Any]: ...

    def camera_json(self, camera_id: str) -> dict[str, Any] | None: ...

    def set_faults(self, camera_id: str, faults: dict[str, FaultValue]) -> None: ...

    def clear_faults(self, camera_id: str, fault_name: str | None) -> None: ...


def _json(status: int, payload: object) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json")


def _parse_fault_body(body: bytes) -> dict[str, FaultValue]:
    """``{"fault": "slow", "value": 2}`` or ``{"faults": {"slow": 2, "black": true}}``."""
    try:
        data = json.loads(body or b"{}")
    except json.JSONDecodeError as error:
        raise FaultError(f"body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise FaultError("body must be a JSON object")
    if "faults" in data and isinstance(data["faults"], dict):
        wanted = data["faults"]
    elif "fault" in data:
        wanted = {str(data["fault"]): data.get("value")}
    else:
        raise FaultError('send {"fault": NAME, "value": V} or {"faults": {NAME: V}}')
    result: dict[str, FaultValue] = {}
    for name, value in wanted.items():
        fault = parse_fault_name(str(name))
        result[fault.value] = normalise_value(fault, value)
    return result


class ControlApi:
    """Routes: GET /cameras, GET /cameras/ID, POST|DELETE /cameras/ID/faults[/NAME], GET /health."""

    def __init__(self, fleet: FaultController) -> None:
        self._fleet = fleet

    async def __call__(self, request: Request) -> Response:
        if request.path == "/health":
            return _json(200, {"status": "ok"})
        if request.path == "/cameras" and request.method == "GET":
            return _json(200, self._fleet.describe_json())
        match = _CAMERA.match(request.path)
        if match is None:
            return _json(404, {"error": "not found"})
        camera_id = match.group("camera")
        current = self._fleet.camera_json(camera_id)
        if current is None:
            return _json(404, {"error": f"no camera {camera_id}"})
        try:
            if match.group("rest") is None and request.method == "GET":
                return _json(200, current)
            if match.group("rest") and request.method in ("POST", "PUT") and not match.group("fault"):
                self._fleet.set_faults(camera_id, _parse_fault_body(request.body))
            elif match.group("rest") and request.method in ("POST", "PUT"):
                value = json.loads(request.body).get("value") if request.body else None
                fault = parse_fault_name(match.group("fault"))
                self._fleet.set_faults(camera_id, {fault.value: normalise_value(fault, value)})
            elif match.group("rest") and request.method == "DELETE":
                fault_name = match.group("fault")
                if fault_name is not None:
                    parse_fault_name(fault_name)
                self._fleet.clear_faults(camera_id, fault_name)
            else:
                return _json(405, {"error": "method not allowed"})
        except (FaultError, json.JSONDecodeError, AttributeError) as error:
            return _json(400, {"error": str(error)})
        return _json(200, self._fleet.camera_json(camera_id))
