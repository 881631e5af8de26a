"""The simulator's ONVIF dialects: chosen per camera by scenario or ``--dialect``, ``mixed`` cycling through all."""

from __future__ import annotations

import pytest
from lxml import etree

from simulator.onvif_dialects import DIALECTS, MIXED, dashed, resolve, undeclare_envelope
from simulator.scenario import ScenarioError, build_camera_configs
from simulator.soap import envelope


def test_mixed_gives_each_camera_the_next_dialect() -> None:
    names = [resolve(MIXED, index).name for index in range(1, 2 * len(DIALECTS) + 1)]
    assert names[:len(DIALECTS)] == list(DIALECTS) == names[len(DIALECTS):]
    assert resolve("no_snapshot_uri", 7).name == "no_snapshot_uri"


def test_scenario_picks_a_dialect_per_camera_and_refuses_unknown_ones() -> None:
    configs = build_camera_configs(3, {"defaults": {"dialect": "time_needs_auth"},
                                       "cameras": {"cam0002": {"dialect": "dashed_mac"}}})
    assert [c.dialect for c in configs] == ["time_needs_auth", "dashed_mac", "time_needs_auth"]
    with pytest.raises(ScenarioError, match="dialect 'hikvision' unknown"):
        build_camera_configs(1, {"defaults": {"dialect": "hikvision"}})


def test_undeclared_envelope_is_what_strict_parsers_refuse() -> None:
    body = undeclare_envelope(envelope("<tds:GetHostnameResponse/>"))
    assert body.count(b"<SOAP-ENV:") == 2 and b"xmlns:SOAP-ENV" not in body and b"xmlns:env" not in body
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(body)


def test_dashed_mac() -> None:
    assert dashed("00:1a:2b:3c:4d:5e") == "00-1A-2B-3C-4D-5E"
