"""`python -m benchmarks.soak --duration 3600`: run the soak and print (and with --write, record) its figures."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from benchmarks.report import write_section
from benchmarks.soak import chaos
from benchmarks.soak.report import markdown
from benchmarks.soak.run import SoakOptions, run_soak
from benchmarks.soak.stack import World


def _kinds(text: str) -> tuple[chaos.Kind, ...]:
    try:
        return tuple(chaos.Kind(name.strip()) for name in text.split(",") if name.strip() and name != "camera")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=3600,
                        help="seconds of chaos (default %(default)s; memory is judged on the half hour after the "
                             "last upheaval's warm-up, so a shorter run cannot judge it)")
    parser.add_argument("--seed", type=int, default=1, help="the chaos schedule's seed: the same seed, the same run")
    parser.add_argument("--regencies", type=int, default=17, help="the first N regencies (default %(default)s)")
    parser.add_argument("--cameras", type=int, default=20, help="cameras per regency (default %(default)s)")
    parser.add_argument("--websites", type=int, default=5, help="websites per regency (default %(default)s)")
    parser.add_argument("--interval", type=float, default=20, help="agents' check interval, s (default %(default)s)")
    parser.add_argument("--postgres", metavar="URL", help="run on PostgreSQL (a throw-away database on this server)")
    parser.add_argument("--ingest-workers", type=int, default=1)
    parser.add_argument("--kinds", type=_kinds, default=chaos.INFRASTRUCTURE, metavar="KIND,...",
                        help="infrastructure incidents to play (default all: "
                             f"{','.join(k.value for k in chaos.INFRASTRUCTURE)})")  # fmt: skip
    parser.add_argument("--state-dir", type=Path, help="keep everything here (default: a temporary directory)")
    parser.add_argument("--json", type=Path, help="also write the whole result as JSON here")
    parser.add_argument("--write", action="store_true", help="record the figures in docs/performance.md")
    args = parser.parse_args(argv)
    world = World(regencies=args.regencies, cameras_per_agent=args.cameras, websites_per_agent=args.websites,
                  interval_s=args.interval, ingest_workers=args.ingest_workers)  # fmt: skip
    options = SoakOptions(duration_s=args.duration, seed=args.seed, world=world, postgres=args.postgres,
                          state_dir=args.state_dir, kinds=args.kinds)  # fmt: skip
    # A soak stopped with SIGTERM (kill, a CI timeout) tears its stack down as Ctrl-C does, instead of
    # leaving the broker, central, the simulator and 17 agents running.
    signal.signal(signal.SIGTERM, _interrupted)
    result = run_soak(options)
    command = "python -m benchmarks.soak " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(result, command)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"options": result.options, "figures": result.figures,
                                         "problems": result.problems, "schedule": result.schedule}, indent=2))  # fmt: skip
    if args.write:
        name = f"soak-{result.options['database']}-{world.ingest_workers}w"
        write_section(name, text)
    return 0 if result.passed else 1


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())
