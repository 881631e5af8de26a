"""`python -m demo`: run the whole SCC system locally until Ctrl-C, or `--check` that it comes up and stop."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from demo.check import wait_for_picture
from demo.processes import StartError, Supervisor
from demo.scenario import DEFAULT_SCENARIO, ScenarioError, load_scenario
from demo.stack import DemoOptions, Running, Stack

DEFAULT_STATE_DIR = Path("demo-state")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Run SCC locally: CA, Mosquitto, central ingest, web and alerts, the simulator and the agents.",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="where everything is kept (default ./demo-state)"
    )
    parser.add_argument(
        "--scenario", type=Path, default=DEFAULT_SCENARIO, help="the demo world (default: %(default)s)"
    )
    parser.add_argument("--web-host", default="127.0.0.1")
    parser.add_argument(
        "--web-port", type=int, default=None, help="default 8080 (any free port with --check)"
    )
    parser.add_argument("--broker-port", type=int, default=None, help="default 18883 (0: any free port)")
    parser.add_argument(
        "--fresh", action="store_true", help="delete the state dir first: new CA, empty database"
    )
    parser.add_argument(
        "--check", action="store_true", help="start, wait until the API shows the three regencies live, stop"
    )
    parser.add_argument(
        "--timeout", type=float, default=240, help="seconds --check waits (default %(default)s)"
    )
    return parser


def _say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def _banner(running: Running) -> None:
    lines = [
        "",
        "SCC demo is running",
        f"  web:        {running.url}",
        f"  login:      {running.credentials.user} / {running.credentials.password}",
        f"  API token:  {running.credentials.token}",
        f"  try:        curl -H 'Authorization: Bearer {running.credentials.token}' {running.url}/api/v1/regencies",
    ]
    lines.append(
        f"  broker:     mqtts://127.0.0.1:{running.broker_port} (mutual TLS; certificates in the state dir)"
    )
    if running.reader:
        pki = running.state_dir / "pki"
        lines.append(
            f"  public:     mosquitto_sub -h 127.0.0.1 -p {running.broker_port} --cafile {pki}/ca.crt "
            f"--cert {pki}/clients/{running.reader}.crt --key {pki}/clients/{running.reader}.key "
            "-t 'scc/v1/public/#' -v"
        )
    if running.webhook_log:
        lines.append(f"  alerts:     {running.url}/alerts; webhook deliveries in {running.webhook_log}")
    if running.simulator_control:
        lines.append(f"  faults:     SCC_SIM_CONTROL={running.simulator_control} scc-sim set cam0001 black")
    lines.append(f"  agents:     {', '.join(running.agents_started) or 'none'}")
    lines.append("Press Ctrl-C to stop everything.")
    print("\n".join(lines), flush=True)


class _Stop(Exception):
    """Raised from the signal handler so that cleanup runs in the main flow."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    temporary = tempfile.TemporaryDirectory(prefix="scc-demo-check-") if args.check else None
    state_dir = args.state_dir or (Path(temporary.name) if temporary else DEFAULT_STATE_DIR)
    # --check must not collide with a demo already running on the usual ports: any free ones.
    options = DemoOptions(
        state_dir=state_dir,
        web_host=args.web_host,
        web_port=args.web_port if args.web_port is not None else (0 if args.check else 8080),
        broker_port=args.broker_port if args.broker_port is not None else (0 if args.check else 18883),
        fresh=args.fresh,
    )
    supervisor = Supervisor(state_dir.resolve() / "logs")
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    status = 0
    try:
        running = Stack(options, scenario, supervisor).start(_say)
        _banner(running)
        if args.check:
            expected = [agent.regency for agent in scenario.agents]
            token = running.credentials.token if running.credentials else None
            picture = wait_for_picture(
                running.url, token, expected, args.timeout, alive=lambda: not supervisor.dead(), say=_say
            )
            _say(f"check passed: {picture.describe()}")
        else:
            _watch(supervisor)
    except _Stop as stop:
        _say(f"{stop.args[0]}: stopping")
    except (StartError, TimeoutError) as error:
        print(f"demo: {error}", file=sys.stderr)
        _report_dead(supervisor)
        status = 1
    finally:
        # Ctrl-C during the shutdown must not leave orphans behind: finish stopping first.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        _say("stopped")
        if temporary:
            temporary.cleanup()
    return status


def _watch(supervisor: Supervisor) -> None:
    """Keep running; say once if a piece dies (its log is in the state dir) but keep the rest up."""
    reported: set[str] = set()
    while True:
        for child in supervisor.dead():
            if child.name not in reported:
                reported.add(child.name)
                _say(
                    f"{child.name} exited with status {child.process.returncode}; last lines of {child.log_path}:"
                )
                print(child.log_tail(), flush=True)
        time.sleep(1)


def _report_dead(supervisor: Supervisor) -> None:
    for child in supervisor.dead():
        _say(f"{child.name} exited with status {child.process.returncode}; last lines of {child.log_path}:")
        print(child.log_tail(), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
