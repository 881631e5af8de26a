"""`scc-agent`: enroll, run, discover, check and doctor, for the service and for the technician on site."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent.config import DEFAULT_CONFIG_PATH, DEFAULT_ETC, AgentConfig, ConfigError, load_config
from edge_agent.discovery_parse import Discovered
from edge_agent.scrub import install_log_scrubbing, scrub
from shared.reasons import CAMERA, worded

if TYPE_CHECKING:
    from edge_agent.discovery import DiscoveryRound

log = logging.getLogger(__name__)


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # paho reports every failed reconnect at ERROR; the publisher already logs the outage once.
    logging.getLogger("edge_agent.publisher").setLevel(max(logging.getLevelName(level), logging.INFO))
    for noisy in ("onvif", "zeep", "httpx", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_log_scrubbing()


def _load(path: Path) -> AgentConfig:
    try:
        return load_config(path)
    except ConfigError as error:
        print(f"scc-agent: bad configuration, not starting:\n{error}", file=sys.stderr)
        raise SystemExit(2) from None


# --- enroll ----------------------------------------------------------------------------------


def enroll(bundle: Path, etc: Path, force: bool = False) -> int:
    """Unpack a provisioning bundle into ``etc``: keys 0600, never a path outside it."""
    try:
        archive = tarfile.open(bundle, "r:gz")  # noqa: SIM115 - closed by the with block below
    except (OSError, tarfile.TarError) as error:
        print(f"scc-agent enroll: {bundle}: not a readable bundle: {error}", file=sys.stderr)
        return 2
    with archive:
        members = archive.getmembers()
        names = [m.name for m in members]
        bad = [m.name for m in members if not m.isfile() or "/" in m.name or m.name.startswith(".")]
        if bad or "agent.toml" not in names or "ca.crt" not in names:
            print(f"scc-agent enroll: {bundle}: not an agent bundle (files: {', '.join(names)})", file=sys.stderr)
            return 2
        etc.mkdir(parents=True, exist_ok=True)
        os.chmod(etc, 0o755)
        for member in members:
            handle = archive.extractfile(member)
            assert handle is not None
            data = handle.read()
            target = etc / member.name
            if member.name == "agent.toml" and target.exists() and not force:
                # Keep the technician's cameras and settings; the new broker/TLS parts go alongside.
                target = etc / "agent.toml.bundle"
                print(f"kept existing {etc / 'agent.toml'}; the bundle's version is in {target}")
            mode = 0o600 if member.name.endswith(".key") else 0o644
            temporary = target.with_name(target.name + ".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(temporary, mode)
            temporary.replace(target)
    config_path = etc / "agent.toml"
    try:
        config = load_config(config_path)
    except ConfigError as error:
        print(f"installed, but the configuration does not load:\n{error}", file=sys.stderr)
        return 1
    print(f"enrolled agent {config.agent.name} (regency {config.agent.regency}) in {etc}")
    print(f"next: add [[cameras]]/[[networks]]/[discovery] to {config_path}, then `scc-agent doctor`")
    return 0


# --- run -------------------------------------------------------------------------------------


def run(config: AgentConfig) -> int:
    from edge_agent.agent import Agent

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await Agent(config).run(stop)

    asyncio.run(main())
    return 0


# --- discover --------------------------------------------------------------------------------


def _progress(done: int, total: int) -> None:
    if not sys.stderr.isatty() and done != total:
        return
    width = 30
    filled = width * done // max(total, 1)
    print(f"\rscanning ranges [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr)
    if done == total:
        print(file=sys.stderr)


async def _discover(config: AgentConfig, multicast: bool, ranges: list[str]) -> tuple[list[dict[str, object]], DiscoveryRound]:
    import ipaddress

    from edge_agent.discovery import discover
    from edge_agent.inventory import discovered_id
    from edge_agent.onvif_client import OnvifSession
    from edge_agent.onvif_errors import ONVIF_ERRORS, classify

    networks = [*config.discovery.ranges, *(ipaddress.IPv4Network(r, strict=False) for r in ranges)]
    found = await discover(config.discovery.interfaces, networks, multicast=multicast,
                           listen_s=config.discovery.listen_s, repeats=config.discovery.repeats,
                           port=config.discovery.port, rate=config.discovery.unicast_rate, progress=_progress)
    slots = asyncio.Semaphore(32)

    async def describe(device: Discovered) -> dict[str, object]:
        host, port = device.host_port or ("", 0)
        row: dict[str, object] = {"id": discovered_id(device), "host": host, "port": port,
                                  "method": device.method.value, "endpoint_ref": device.endpoint_ref,
                                  "manufacturer": "", "model": device.scope("hardware"), "serial": "", "mac": "",
                                  "name": device.scope("name")[:60]}
        username, password = config.credentials_for(host)
        session = OnvifSession(host, port, username, password, timeout_s=config.timeouts.onvif_s,
                               device_url=device.service_url)
        async with slots:
            try:
                await session.system_time()
                info = await session.device_information()
                row.update(manufacturer=info.manufacturer, model=info.model, serial=info.serial, mac=info.mac)
            except ONVIF_ERRORS as error:
                row["note"] = worded(CAMERA, classify(error).reason)
            finally:
                await session.close()
        return row

    rows = list(await asyncio.gather(*(describe(d) for d in found.devices)))
    unique: list[dict[str, object]] = []
    seen: set[str] = set()
    for row in rows:
        keys = {f"s:{row['serial']}" if row["serial"] else "", f"m:{row['mac']}" if row["mac"] else ""} - {""}
        if keys & seen:
            continue
        seen |= keys
        unique.append(row)
    return unique, found


def _table(rows: list[dict[str, object]], columns: Sequence[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))[:48]) for r in rows)) for c in columns} if rows else {
        c: len(c) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, ""))[:48].ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def discover_command(config: AgentConfig, as_json: bool, multicast: bool, ranges: list[str],
                     verbose: bool = False) -> int:
    """Print the cameras found; the closing line (stderr with --json) counts every reply heard."""
    rows, found = asyncio.run(_discover(config, multicast, ranges))
    if verbose:
        for source, reason in found.drops:
            print(f"dropped reply from {source}: {reason}", file=sys.stderr)
        if found.dropped > len(found.drops):
            print(f"{found.dropped - len(found.drops)} more dropped replies not named", file=sys.stderr)
    if as_json:
        print(json.dumps(rows, indent=2))
        print(found.summary(), file=sys.stderr)
    else:
        print(_table(rows, ("id", "host", "port", "method", "manufacturer", "model", "serial", "mac", "note")))
        print(f"{len(rows)} camera(s) found; {found.summary()}")
    return 0


# --- check -----------------------------------------------------------------------------------


async def _check(config: AgentConfig, camera: str | None) -> list[dict[str, object]]:
    from edge_agent.inventory import Inventory
    from edge_agent.scheduler import CameraChecker, close_resources, make_resources

    targets = Inventory(config).targets()
    if camera:
        targets = [t for t in targets if t.camera_id == camera]
        if not targets:
            raise KeyError(camera)
    resources = make_resources(config)
    checker = CameraChecker(config, resources)
    try:
        results = await asyncio.gather(*(checker.cycle(t, full=True) for t in targets))
    finally:
        await checker.close()
        await close_resources(resources)
    return [{
        "camera": r.target.camera_id, "host": r.target.host, "status": r.decision.state.value,
        "reason": r.decision.reason, "message": r.decision.message,
        "checks": [o.model_dump(mode="json") for o in r.outcomes],
    } for r in results]


def check_command(config: AgentConfig, camera: str | None, as_json: bool, websites: bool) -> int:
    try:
        rows = asyncio.run(_check(config, camera)) if not websites or camera else []
    except KeyError:
        print(f"scc-agent check: no camera {camera!r} in the configuration or inventory", file=sys.stderr)
        return 2
    site_findings: list[object] = []
    if websites and config.websites:
        from edge_agent.websites import WebsiteChecker

        async def sites() -> list[object]:
            async with WebsiteChecker(config.agent.state_dir / "websites.sqlite") as checker:
                return list(await checker.check_all(config.websites))
        site_findings = asyncio.run(sites())
    if as_json:
        # Each finding as a JSON object (findings_json would nest a JSON *string* in the document).
        websites_json = [finding.as_dict() for finding in site_findings]  # type: ignore[attr-defined]
        print(json.dumps({"cameras": rows, "websites": websites_json}, indent=2, default=str))
    else:
        for row in rows:
            print(f"{row['camera']:<20} {row['host']:<16} {str(row['status']).upper():<9} "
                  f"{worded(CAMERA, str(row['reason']), _details(row))}: {row['message']}")
            for check in row["checks"]:  # type: ignore[attr-defined]
                if check["outcome"] in ("warn", "fail"):
                    print(f"    {check['check']:<12} {check['outcome']:<5} {check['reason']}: {check['message']}")
        if site_findings:
            from edge_agent.websites import format_website_table

            print(format_website_table(site_findings))  # type: ignore[arg-type]
    # Non-zero when anything checked is not fine, cameras and websites alike (scripts rely on it).
    bad = any(row["status"] != "ok" for row in rows) or any(
        str(getattr(finding, "availability", "up")) != "up" or getattr(finding, "reason", "ok") != "ok"
        for finding in site_findings)
    return 1 if bad else 0


def _details(row: dict[str, object]) -> dict[str, object]:
    merged: dict[str, object] = {}
    for check in row["checks"]:  # type: ignore[attr-defined]
        merged.update(check.get("details", {}))
    return merged


# --- main ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scc-agent", description="SCC edge agent: cameras and OPD websites")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="agent.toml (default: %(default)s)")
    parser.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("enroll", help="install a provisioning bundle (tar.gz) into /etc/scc")
    p.add_argument("bundle", type=Path)
    p.add_argument("--etc", type=Path, default=DEFAULT_ETC)
    p.add_argument("--force", action="store_true", help="replace an existing agent.toml")
    sub.add_parser("run", help="run the agent (the systemd service does this)")
    p = sub.add_parser("discover", help="find cameras once and print them")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-multicast", action="store_true")
    p.add_argument("--range", action="append", default=[], metavar="CIDR", help="also probe this range")
    p.add_argument("-v", "--verbose", action="store_true", help="name each dropped reply: source and why")
    p = sub.add_parser("check", help="check cameras once and print each camera's findings")
    p.add_argument("camera", nargs="?")
    p.add_argument("--json", action="store_true")
    p.add_argument("--websites", action="store_true", help="check the configured websites instead")
    sub.add_parser("doctor", help="check config, certificates, broker, clock and disk; say what to fix")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "enroll":
        _setup_logging(args.log_level or "WARNING")
        return enroll(args.bundle, args.etc, args.force)
    if args.command == "doctor":
        _setup_logging(args.log_level or "WARNING")
        from edge_agent.doctor import doctor

        return doctor(args.config)
    try:
        config = _load(args.config)
    except SystemExit as exit_:
        return int(exit_.code or 2)
    _setup_logging(args.log_level or (config.agent.log_level if args.command == "run" else "WARNING"))
    try:
        if args.command == "run":
            return run(config)
        if args.command == "discover":
            return discover_command(config, args.json, not args.no_multicast and config.discovery.multicast,
                                    args.range, args.verbose)
        if args.command == "check":
            return check_command(config, args.camera, args.json, args.websites)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        print(f"scc-agent {args.command}: {scrub(error)}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
