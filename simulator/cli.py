"""``scc-sim``: serve a simulated fleet, or change faults on a running one (set / clear / list)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from simulator.descriptors import FleetDescriptor
from simulator.discovery import DISCOVERY_PORT
from simulator.discovery_dialects import DIALECTS as DISCOVERY_DIALECTS
from simulator.discovery_dialects import MIXED
from simulator.faults import FaultError, parse_assignment
from simulator.identity import camera_id_for
from simulator.onvif_dialects import DIALECTS as ONVIF_DIALECTS
from simulator.scenario import DEFAULT_PASSWORD, DEFAULT_USERNAME, ScenarioError, load_scenario

DEFAULT_HTTP_PORT = 8080
DEFAULT_RTSP_PORT = 8554
DEFAULT_CONTROL_PORT = 8099
CONTROL_ENV = "SCC_SIM_CONTROL"


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scc-sim",
        description="Simulate ONVIF/RTSP cameras (and OPD websites). Also: scc-sim set|clear|list ...",
        epilog=f"Default credentials: {DEFAULT_USERNAME} / {DEFAULT_PASSWORD}. Port 0 picks a free port.",
    )
    parser.add_argument("--cameras", type=int, default=1, help="number of cameras (default 1)")
    parser.add_argument("--websites", type=int, default=0, help="number of OPD websites to simulate")
    parser.add_argument("--scenario", help="TOML scenario: [defaults], [cameras.<id>] with faults")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    parser.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT)
    parser.add_argument("--rtsp-port", type=int, default=DEFAULT_RTSP_PORT)
    parser.add_argument("--control-port", type=int, default=DEFAULT_CONTROL_PORT)
    parser.add_argument("--discovery-port", type=int, default=DISCOVERY_PORT,
                        help="WS-Discovery port; 3702 also joins the multicast group, 0 = unicast on a free port")
    parser.add_argument("--no-multicast", action="store_true", help="answer unicast probes only")
    parser.add_argument("--shared-address", action="store_true",
                        help="do not give each camera its own 127.20.x.y address on loopback")
    parser.add_argument("--camera-ip-base", metavar="IP",
                        help="camera N listens on IP+N-1 (addresses must already exist, e.g. in a netns)")
    parser.add_argument("--advertise-host", help="host to put in URLs when serving on 0.0.0.0")
    parser.add_argument("--no-rtsp", action="store_true", help="do not start the RTSP server")
    parser.add_argument("--clock-code", action="store_true",
                        help="burn the render time into every frame as blocks (the live-view latency benchmark)")
    parser.add_argument("--discovery-dialect", choices=[*DISCOVERY_DIALECTS, MIXED],
                        help="how every camera words WS-Discovery (scenario [defaults] discovery_dialect); "
                             "mixed: camera N speaks the N-th in turn")
    parser.add_argument("--dialect", choices=[*ONVIF_DIALECTS, MIXED],
                        help="the ONVIF quirks every camera's firmware has (scenario [defaults] dialect, see "
                             "simulator/onvif_dialects.py); mixed: camera N speaks the N-th in turn")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _control_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scc-sim", description="Change faults on a running scc-sim.")
    parser.add_argument("--control", default=os.environ.get(CONTROL_ENV, f"http://127.0.0.1:{DEFAULT_CONTROL_PORT}"),
                        help=f"control API URL (env {CONTROL_ENV})")
    commands = parser.add_subparsers(dest="command", required=True)
    set_command = commands.add_parser("set", help="inject faults: scc-sim set cam0003 black slow=2")
    set_command.add_argument("camera")
    set_command.add_argument("faults", nargs="+", metavar="FAULT[=VALUE]")
    clear_command = commands.add_parser("clear", help="remove all faults (or the named one)")
    clear_command.add_argument("camera")
    clear_command.add_argument("fault", nargs="?")
    commands.add_parser("list", help="print the running fleet as JSON")
    return parser


def _camera_arg(text: str) -> str:
    return camera_id_for(int(text)) if text.isdigit() else text


def _control_call(base: str, method: str, path: str, payload: object | None = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        # The simulator is always local to the caller; a corporate proxy must not be asked for it.
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise SystemExit(f"scc-sim: {error.code}: {detail}") from None
    except urllib.error.URLError as error:
        raise SystemExit(f"scc-sim: cannot reach the simulator at {base}: {error.reason}") from None


def control_main(argv: Sequence[str]) -> int:
    args = _control_parser().parse_args(argv)
    if args.command == "list":
        print(json.dumps(_control_call(args.control, "GET", "/cameras"), indent=2))
        return 0
    camera = _camera_arg(args.camera)
    if args.command == "set":
        try:
            faults = dict(parse_assignment(text) for text in args.faults)
        except FaultError as error:
            raise SystemExit(f"scc-sim: {error}") from None
        payload = {"faults": {fault.value: value for fault, value in faults.items()}}
        result = _control_call(args.control, "POST", f"/cameras/{camera}/faults", payload)
    else:
        suffix = f"/{args.fault}" if args.fault else ""
        result = _control_call(args.control, "DELETE", f"/cameras/{camera}/faults{suffix}")
    print(f"{result['id']}: faults {json.dumps(result['faults'])}")
    return 0


def format_table(fleet: FleetDescriptor) -> str:
    """Human-readable summary: shared ports and credentials first, then one row per camera."""
    lines = [
        f"scc-sim: {len(fleet.cameras)} cameras on {fleet.host}  http:{fleet.http_port}  rtsp:{fleet.rtsp_port}  "
        f"ws-discovery:{fleet.discovery_port}{' (multicast)' if fleet.multicast else ''}",
        f"control API: {fleet.control_url}   (scc-sim set CAMERA FAULT / scc-sim clear CAMERA)",
        "",
        f"{'ID':<9} {'NAME':<38} {'ONVIF':<52} {'RTSP':<42} {'USER/PASS':<26} FAULTS",
    ]
    for camera in fleet.cameras:
        faults = ", ".join(k if v is True else f"{k}={v}" for k, v in camera.faults.items()) or "-"
        credentials = f"{camera.username}/{camera.password}"
        lines.append(f"{camera.id:<9} {camera.name[:38]:<38} {camera.onvif_xaddr:<52} {camera.rtsp_url:<42} "
                     f"{credentials[:26]:<26} {faults[:60]}")
    for site in fleet.websites:
        lines.append(f"website  {json.dumps(site)[:150]}")
    return "\n".join(lines)


def _describe_websites(websites: Any) -> list[dict[str, Any]]:
    """The website simulator's own description, whichever of these methods it provides."""
    for method in ("describe", "to_json", "as_json"):
        describe = getattr(websites, method, None)
        if callable(describe):
            result = describe()
            return list(result.get("websites", [])) if isinstance(result, dict) else list(result)
    return []


async def _serve(args: argparse.Namespace, scenario: dict[str, Any], websites: Any) -> int:
    from simulator.fleet import Fleet, FleetOptions

    options = FleetOptions(
        cameras=args.cameras, host=args.host, http_port=args.http_port, rtsp_port=args.rtsp_port,
        control_port=args.control_port, discovery_port=args.discovery_port, multicast=not args.no_multicast,
        per_camera_addresses=not args.shared_address, camera_ip_base=args.camera_ip_base,
        advertise_host=args.advertise_host, rtsp=not args.no_rtsp, clock_code=args.clock_code,
        scenario=scenario,
    )
    fleet = Fleet(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await fleet.start()
    try:
        described = fleet.describe()
        if websites is not None:
            described = _with_websites(described, _describe_websites(websites))
        if args.json:
            print(json.dumps(described.to_json()), flush=True)
        else:
            print(format_table(described), flush=True)
        await stop.wait()
    finally:
        await fleet.stop()
    return 0


def _with_websites(fleet: FleetDescriptor, websites: list[dict[str, Any]]) -> FleetDescriptor:
    return FleetDescriptor(fleet.host, fleet.http_port, fleet.rtsp_port, fleet.discovery_port, fleet.multicast,
                           fleet.control_url, fleet.cameras, websites)


def serve_main(argv: Sequence[str]) -> int:
    args = _serve_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.cameras < 0 or args.websites < 0:
        raise SystemExit("scc-sim: --cameras and --websites must not be negative")
    try:
        scenario = load_scenario(args.scenario) if args.scenario else {}
    except ScenarioError as error:
        raise SystemExit(f"scc-sim: {error}") from None
    if args.discovery_dialect:
        scenario.setdefault("defaults", {})["discovery_dialect"] = args.discovery_dialect
    if args.dialect:
        scenario.setdefault("defaults", {})["dialect"] = args.dialect
    websites = None
    if args.websites > 0:
        # Imported only when asked for, so the camera simulator never depends on the website one.
        from simulator.websites import start_websites

        websites = start_websites(args.websites, scenario, args.host)
    try:
        return asyncio.run(_serve(args, scenario, websites))
    except (ScenarioError, FaultError, OSError) as error:
        raise SystemExit(f"scc-sim: {error}") from None
    finally:
        for method in ("stop", "close"):
            closer = getattr(websites, method, None)
            if callable(closer):
                closer()
                break


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if (arguments and arguments[0] in ("set", "clear", "list")) or arguments[:1] == ["--control"]:
        return control_main(arguments)
    return serve_main(arguments)


if __name__ == "__main__":
    raise SystemExit(main())
