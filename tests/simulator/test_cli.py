"""``scc-sim`` as a user runs it: JSON/table output, scenario files, set/clear, clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from simulator.descriptors import FleetDescriptor
from simulator.testing import run_fleet_process, sim_command

REQUIRED_CAMERA_KEYS = {"id", "name", "host", "onvif_xaddr", "snapshot_url", "rtsp_url", "username", "password",
                        "faults", "serial", "mac"}
SCENARIO = """
seed = 7
[defaults]
password = "kata-sandi-bersama"
resolution = "320x240"

[cameras.cam0002]
username = "operator"
password = "lain"
faults = ["black", "slow=0.5"]

[cameras.3]
name = "CCTV Jembatan Ampera"
faults = { clock_wrong = -3 }
"""


def scc_sim(*args: str, control_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if control_url:
        env["SCC_SIM_CONTROL"] = control_url
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


def test_json_output_and_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO)
    with run_fleet_process(3, scenario_file=scenario, extra_args=["--discovery-port", "0", "--no-rtsp"]) as fleet:
        raw = fleet.refresh().to_json()
        for camera in raw["cameras"]:
            assert set(camera) >= REQUIRED_CAMERA_KEYS
        first, second, third = fleet.cameras
        assert (first.username, first.password, first.resolution) == ("admin", "kata-sandi-bersama", (320, 240))
        assert (second.username, second.password) == ("operator", "lain")
        assert second.faults == {"black": True, "slow": 0.5}
        assert third.name == "CCTV Jembatan Ampera" and third.faults == {"clock_wrong": -3.0}
        assert first.onvif_xaddr.startswith(f"http://{first.host}:{first.onvif_port}/")
        assert first.rtsp_url.endswith("/cam/cam0001")


def test_set_and_clear_from_the_command_line() -> None:
    with run_fleet_process(2, extra_args=["--discovery-port", "0", "--no-rtsp"]) as fleet:
        url = fleet.descriptor.control_url
        result = scc_sim("set", "cam0002", "dark", "clock_wrong=2", control_url=url)
        assert result.returncode == 0, result.stderr
        assert fleet.refresh().camera("cam0002").faults == {"clock_wrong": 2.0, "dark": True}
        assert scc_sim("--control", url, "set", "1", "tampered").returncode == 0
        assert fleet.refresh().camera("cam0001").faults == {"covered": True}
        assert scc_sim("clear", "cam0002", "dark", control_url=url).returncode == 0
        assert fleet.refresh().camera("cam0002").faults == {"clock_wrong": 2.0}
        assert scc_sim("clear", "cam0002", control_url=url).returncode == 0
        assert fleet.refresh().camera("cam0002").faults == {}
        listed = scc_sim("list", control_url=url)
        assert FleetDescriptor.from_json(json.loads(listed.stdout)).camera("cam0001").faults == {"covered": True}
        unknown = scc_sim("set", "cam0001", "on_fire", control_url=url)
        assert unknown.returncode != 0 and "known faults" in unknown.stderr
        assert scc_sim("set", "cam9999", "black", control_url=url).returncode != 0


def test_table_output_then_clean_shutdown_on_sigterm() -> None:
    argv = [arg for arg in sim_command(2, "--discovery-port", "0", "--no-rtsp") if arg != "--json"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    header = process.stdout.readline()
    assert "2 cameras" in header and "http:" in header
    lines = [process.stdout.readline() for _ in range(4)]
    table = "".join(lines)
    assert "cam0001" in table and "admin/sumsel-demo-2024" in table
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    process.communicate(timeout=5)


def test_bad_scenario_is_reported_with_its_location(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text('[cameras.cam0001]\nfaults = ["melted"]\n')
    result = scc_sim("--cameras", "1", "--scenario", str(scenario), "--no-rtsp", "--http-port", "0")
    assert result.returncode != 0
    assert "[cameras.cam0001]" in result.stderr and "melted" in result.stderr
