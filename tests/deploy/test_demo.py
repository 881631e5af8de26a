"""`make demo`: the scenario lays out three regencies, and (slow) `python -m demo --check` comes up and stops."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from demo.check import picture_is_complete, read_picture
from demo.processes import Supervisor
from demo.scenario import ScenarioError, load_scenario, parse_scenario
from demo.stack import _agent_cameras, _agent_websites, _merged
from edge_agent.websites import WebsiteTarget, provincial_targets

REPO = Path(__file__).resolve().parents[2]


def test_scenario_has_the_three_regencies() -> None:
    scenario = load_scenario()
    by_regency = {agent.regency: agent for agent in scenario.agents if not agent.provincial}
    assert set(by_regency) == {"16.71", "16.06", "16.07"}
    assert by_regency["16.71"].cameras == 36
    # The demo must show trouble: dead, frozen, dark, covered and misconfigured cameras, stale sites.
    faults = {
        fault.split("=")[0]
        for agent in scenario.agents
        for items in agent.camera_faults.values()
        for fault in items
    }
    assert {"offline", "frozen", "dark", "covered", "wrong_credentials"} <= faults
    assert any("stale" in f for a in scenario.agents for items in a.website_faults.values() for f in items)


def test_agents_get_disjoint_slices_of_the_fleet(tmp_path: Path) -> None:
    scenario = load_scenario()
    indices = [index for agent in scenario.agents for index in agent.camera_indices()]
    assert indices == list(range(1, scenario.total_cameras + 1))
    sim = scenario.simulator_scenario(tmp_path)
    assert len(sim["cameras"]) == scenario.total_cameras
    palembang = scenario.agents[0]
    fourth = str(palembang.camera_offset + 4)
    assert sim["cameras"][fourth]["faults"] == ["offline"]


def test_agent_config_entries_from_a_fleet_description(tmp_path: Path) -> None:
    scenario = parse_scenario(
        {
            "agents": [
                {"name": "a-one", "regency": "16.06", "cameras": 2, "websites": 1, "locations": ["Sekayu"]},
                {"name": "a-two", "regency": "16.07", "cameras": 1, "websites": 1},
            ]
        }
    )
    fleet: dict[str, Any] = {
        "cameras": [
            {"id": f"cam000{i}", "index": i, "host": f"127.20.0.{i}", "onvif_port": 8000, "password": "p" * 12,
             "faults": {"wrong_credentials": "x"} if i == 2 else {}}
            for i in (1, 2, 3)
        ],
        "websites": [
            {"url": "https://127.0.0.1:9001/", "opd": "Dinas Kesehatan Kabupaten Lahat"},
            {"url": "http://127.0.0.1:9002/", "opd": "Dinas Pendidikan Kota Palembang"},
        ],
        "website_ca_file": str(tmp_path / "ca.pem"),
    }  # fmt: skip
    second = scenario.agents[1]
    assert [c["id"] for c in _agent_cameras(scenario.agents[0], fleet)] == ["cam0001", "cam0002"]
    assert [c["id"] for c in _agent_cameras(second, fleet)] == ["cam0003"]
    # The camera whose password was changed keeps the installer's (now wrong) one in the agent's config.
    assert _agent_cameras(scenario.agents[0], fleet)[1]["password"] != fleet["cameras"][1]["password"]
    site = _agent_websites(second, fleet)[0]
    assert site["opd"] == "Dinas Pendidikan Kabupaten Banyuasin"
    assert site["id"] == "dinas-pendidikan-banyuasin"


def test_provincial_agent_checks_the_provincial_list_on_simulated_sites(tmp_path: Path) -> None:
    scenario = load_scenario()
    [provincial] = [agent for agent in scenario.agents if agent.provincial]
    # Bound to the provincial capital, which has its own agent: "3 of 17 integrated" stays true.
    assert provincial.regency == "16.71" and provincial.cameras == 0
    fleet: dict[str, Any] = {
        "cameras": [],
        "websites": [
            {"url": f"https://127.0.0.1:{9000 + i}/", "opd": "x"} for i in range(scenario.total_websites)
        ],
        "website_ca_file": str(tmp_path / "ca.pem"),
    }
    sites = _agent_websites(provincial, fleet)
    listed = provincial_targets()
    assert len(sites) == provincial.websites <= len(listed)
    assert [site["id"] for site in sites] == [target.id for target in listed[: len(sites)]]
    assert sites[1]["opd"] == f"{listed[1].opd} Provinsi Sumatera Selatan"  # not Palembang's own office
    assert sites[0]["url"] == fleet["websites"][provincial.website_offset]["url"]
    assert all(site["ca_file"] == fleet["website_ca_file"] for site in sites)
    # Every entry is a valid [[websites]] table of agent.toml.
    assert [WebsiteTarget.model_validate(site).id for site in sites] == [site["id"] for site in sites]


def test_provincial_agent_refuses_cameras() -> None:
    with pytest.raises(ScenarioError, match="websites only"):
        parse_scenario({"agents": [{"name": "p", "regency": "16.71", "cameras": 1, "provincial": True}]})


def test_central_settings_layer_over_the_demo_config() -> None:
    scenario = load_scenario()
    alerts = scenario.central_settings["alerts"]
    assert alerts["rules"]["camera"]["offline"]["fire_after_minutes"] <= 2
    merged = _merged(
        {"alerts": {"interval_s": 30, "mqtt": {"enabled": False}}}, {"alerts": {"interval_s": 5}}
    )
    assert merged == {"alerts": {"interval_s": 5, "mqtt": {"enabled": False}}}


def test_picture_reads_the_regencies_api() -> None:
    def regency(code: str, stage: str, ok: int, degraded: int = 0) -> dict[str, Any]:
        return {"code": code, "stage": stage, "cameras": {"ok": ok, "degraded": degraded, "offline": 1}}

    others = [regency(f"16.{n:02d}", "planned", 0) for n in (1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13)]
    others += [regency(code, "planned", 0) for code in ("16.72", "16.73", "16.74")]
    integrated = [
        regency("16.71", "cameras_integrated", 28, 3),
        regency("16.06", "agent_online", 0, 2),
        regency("16.07", "agent_online", 0),
    ]
    payload = {"items": [*integrated, *others]}
    picture = read_picture(payload)
    assert picture.regencies == 17
    assert picture.integrated == ("16.06", "16.07", "16.71")
    assert picture.live_cameras == {"16.71": 31, "16.06": 2, "16.07": 0}
    assert not picture_is_complete(picture, ["16.71", "16.06", "16.07"])  # Banyuasin shows no picture yet
    payload["items"][2] = regency("16.07", "cameras_integrated", 8)
    assert picture_is_complete(read_picture(payload), ["16.71", "16.06", "16.07"])


def test_supervisor_stops_a_process_group_that_ignores_sigterm(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "logs")
    # A parent that ignores SIGTERM, with a child: both must be gone afterwards (SIGKILL to the group).
    script = "import signal, subprocess, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    script += "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\ntime.sleep(60)\n"
    child = supervisor.start("stubborn", [sys.executable, "-c", script])
    _wait_for(lambda: len(_live_members(child.process.pid)) == 2, "parent and child running")
    started = time.monotonic()
    supervisor.stop_all(timeout=1)
    assert time.monotonic() - started < 10
    assert child.process.poll() is not None
    # SIGKILLed processes take a moment to leave /proc on a loaded machine.
    _wait_for(lambda: _live_members(child.process.pid) == [], "the whole group gone")


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def _live_members(group: int) -> list[int]:
    """Processes still running in a process group; zombies wait for PID 1 to reap them and do not count."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_demo_check_comes_up_and_stops() -> None:
    """The whole system: CA, broker, central, simulator, agents; the API shows 3 of 17 live; clean stop."""
    # Not tmp_path: pytest's base dir is 0700, and Mosquitto reads the PKI after dropping to its own user.
    root = Path(tempfile.mkdtemp(prefix="scc-demo-test-"))
    root.chmod(0o755)
    state = root / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--check", "--state-dir", str(state), "--timeout", "300"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=400)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"python -m demo --check did not finish:\n{output}")
    assert process.returncode == 0, output
    assert "check passed" in output
    assert "not yet:" not in output, output
    # Nothing the demo started may outlive it.
    leftovers = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == "", leftovers.stdout
    shutil.rmtree(root, ignore_errors=True)


def test_rollout_plan_fills_unplanned_regencies_and_keeps_edits(sqlite_url: str, tmp_path: Path) -> None:
    import datetime as dt

    import tomli_w
    from sqlalchemy import select

    from central.storage.db import Database
    from central.storage.models import Rollout
    from demo.rollout import ensure_rollout_plan

    config = tmp_path / "central.toml"
    config.write_text(tomli_w.dumps({"state_dir": str(tmp_path), "database": {"url": sqlite_url}}))
    database = Database(sqlite_url)
    with database.session(write=True) as session:
        session.get(Rollout, "16.72").target_cameras = 3  # an operator planned Pagar Alam already
    today = dt.date(2026, 11, 28)
    assert ensure_rollout_plan(config, load_scenario(), today) == 16
    with database.session() as session:
        rows = {r.regency_code: r for r in session.scalars(select(Rollout))}
    database.dispose()
    assert (rows["16.71"].target_cameras, rows["16.71"].target_websites) == (
        36,
        15,
    )  # with the provincial sites
    assert rows["16.71"].started_on is not None and rows["16.71"].started_on < today
    assert rows["16.72"].target_cameras == 3 and rows["16.72"].planned_start is None
    assert all(
        r.planned_start and r.planned_start > today
        for c, r in rows.items()
        if c not in {"16.71", "16.06", "16.07", "16.72"}
    )
    assert ensure_rollout_plan(config, load_scenario(), today) == 0  # a second start changes nothing
