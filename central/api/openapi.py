"""The OpenAPI 3.1 document for /api/v1, its schemas generated from the response models so they match."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from central.api import schemas as s
from central.storage.models import EventKind
from central.storage.queries import CAMERA_STATES, WEBSITE_STATES

REF = "#/components/schemas/{model}"


def _param(
    name: str, where: str, schema: dict[str, Any], description: str, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": schema,
    }


LIMIT = _param(
    "limit", "query", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "Page size."
)
OFFSET = _param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "Items to skip.")
OWNER = _param(
    "regency",
    "query",
    {"type": "string", "pattern": r"^16(\.\d{2})?$"},
    "Whose: a regency code (e.g. 16.71), or 16 for the province's own offices. Items are filed under their "
    "owner (``regency`` in each item, as in the public MQTT feed): a regency's list leaves out what the "
    "province's own agents report, whatever regency their certificate names.",
)
CAMERA_PK = _param("pk", "path", {"type": "integer"}, "The camera's id (``id`` in camera lists).")

# path -> (operationId, summary, parameters, response model, extra responses)
OPERATIONS: list[tuple[str, str, str, list[dict[str, Any]], type[BaseModel] | None]] = [
    (
        "/regencies",
        "listRegencies",
        "The 17 regencies with their rollups, the province's own offices (``offices``, code 16) and the "
        "province totals.",
        [LIMIT, OFFSET],
        s.RegencyPage,
    ),
    (
        "/regencies/{code}",
        "getRegency",
        "One regency's rollup; 16: the province's own offices (province-wide callers, when configured).",
        [
            _param(
                "code",
                "path",
                {"type": "string", "pattern": r"^16(\.\d{2})?$"},
                "Regency code, or 16 for the province's own offices.",
            )
        ],
        s.RegencyOut,
    ),
    (
        "/cameras",
        "listCameras",
        "Cameras, worst status first, filtered by regency, status and OPD.",
        [
            OWNER,
            _param("status", "query", {"enum": list(CAMERA_STATES)}, "Current status."),
            _param("opd", "query", {"type": "string"}, "Owning office."),
            LIMIT,
            OFFSET,
        ],
        s.CameraPage,
    ),
    (
        "/cameras/{pk}",
        "getCamera",
        "A camera with metadata, latest checks and uptime.",
        [CAMERA_PK],
        s.CameraDetailOut,
    ),
    (
        "/cameras/{pk}/history",
        "getCameraHistory",
        "The camera's status periods, newest first.",
        [
            CAMERA_PK,
            _param("days", "query", {"type": "integer", "minimum": 1, "default": 30}, "How far back."),
            LIMIT,
            OFFSET,
        ],
        s.StatusPeriodPage,
    ),
    (
        "/cameras/{pk}/thumbnail.jpg",
        "getCameraThumbnail",
        "The newest JPEG (ETag, Cache-Control).",
        [CAMERA_PK],
        None,
    ),
    (
        "/websites",
        "listWebsites",
        "OPD websites with freshness, TLS and availability.",
        [
            OWNER,
            _param("state", "query", {"enum": list(WEBSITE_STATES)}, "Current state."),
            LIMIT,
            OFFSET,
        ],
        s.WebsitePage,
    ),
    (
        "/rollout",
        "listRollout",
        "Rollout stage, targets and dates per regency.",
        [LIMIT, OFFSET],
        s.RolloutPage,
    ),
    (
        "/events",
        "listEvents",
        "The change feed, newest first; follow links.next (cursor ``before``).",
        [
            OWNER,
            _param("camera", "query", {"type": "integer", "minimum": 1}, "Only this camera's events."),
            _param("kind", "query", {"type": "string", "enum": [kind.value for kind in EventKind]}, "Only this kind."),
            _param("before", "query", {"type": "integer", "minimum": 1}, "Cursor: events with a smaller id."),
            LIMIT,
        ],
        s.EventPage,
    ),
    (
        "/alerts",
        "listAlerts",
        "Alerts by state (firing by default), newest first.",
        [
            _param("status", "query", {"enum": ["firing", "resolved", "all"], "default": "firing"}, "Which alerts."),
            OWNER,
            LIMIT,
            OFFSET,
        ],
        s.AlertPage,
    ),
    (
        "/quarantine",
        "getQuarantine",
        "Refused (quarantined) reports: counts per agent and reason, and the newest examples. Administrators' "
        "web sessions only (403 for tokens and other roles).",
        [
            _param("agent", "query", {"type": "string"}, "Only this agent's."),
            _param("since", "query", {"type": "string", "format": "date-time"}, "Counts of those seen since."),
            LIMIT,
        ],
        s.QuarantineOut,
    ),
    (
        "/alerts/{alert_id}",
        "getAlert",
        "One alert, firing or past.",
        [_param("alert_id", "path", {"type": "string"}, "The alert's id (``alert_id`` in alert lists).")],
        s.AlertOut,
    ),
]

RESPONSE_MODELS: tuple[type[BaseModel], ...] = tuple(
    {model for *_, model in OPERATIONS if model is not None} | {s.Problem}
)


def component_schemas() -> dict[str, Any]:
    _, top = models_json_schema([(m, "serialization") for m in RESPONSE_MODELS], ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    return schemas


def _json_response(description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


@cache
def build_openapi() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, operation_id, summary, parameters, model in OPERATIONS:
        responses: dict[str, Any] = {
            "401": _json_response("No valid token or session.", s.Problem),
        }
        if model is None:
            responses["200"] = {
                "description": "JPEG image",
                "content": {"image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}},
            }
            responses["304"] = {"description": "Not modified (If-None-Match matched the ETag)."}
        else:
            responses["200"] = _json_response("OK", model)
        if "{" in path or any(p["in"] == "query" for p in parameters):
            responses["400" if "{" not in path else "404"] = _json_response(
                "Bad request or not found.", s.Problem
            )
        paths[path] = {
            "get": {
                "operationId": operation_id,
                "summary": summary,
                "parameters": parameters,
                "responses": responses,
                "security": [{"bearer": []}, {"session": []}],
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SCC (Sumsel Command Center) API",
            "version": "1.0.0",
            "description": "Read-only status of South Sumatra's government CCTV cameras and OPD websites. "
            "Times are UTC (ISO 8601). Lists are paginated with limit/offset (events: cursor) and carry links.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `scc-central token add NAME`.",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "scc_session"},
            },
        },
    }
