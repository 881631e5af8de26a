"""scc-provision: the command line for SCC's CA, broker configuration and enrollment bundles."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from provisioning import operations
from provisioning.broker import DEFAULT_PORT
from provisioning.ca import Role
from provisioning.errors import ProvisioningError
from provisioning.layout import Layout
from provisioning.registry import IssuedCert, load_registry

RELOAD_HINT = (
    "The broker reads the CRL and ACL at start and on SIGHUP; make it reload now with\n"
    "  systemctl reload mosquitto        (systemd)\n"
    "  kill -HUP $(pidof mosquitto)      (otherwise)\n"
    "Clients already connected keep their session until they reconnect; restart the broker\n"
    "(systemctl restart mosquitto) to cut a revoked client off at once."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scc-provision", description="SCC's private CA, Mosquitto configuration and enrollment bundles."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_dir(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--dir", required=True, type=Path, help="the provisioning directory")
        return sub

    init = with_dir("init", "create the CA, broker and central certificates, mosquitto.conf and ACL")
    init.add_argument(
        "--broker-host",
        required=True,
        nargs="+",
        metavar="NAME",
        help="DNS names and IP addresses clients use to reach the broker; the first goes in the bundles",
    )
    init.add_argument("--port", type=int, default=DEFAULT_PORT, help="TLS listener port (default 8883)")
    init.add_argument(
        "--persistence-dir",
        type=Path,
        help="where Mosquitto keeps mosquitto.db (default DIR/broker/persistence)",
    )
    init.add_argument("--log-file", type=Path, help="Mosquitto log file (default: stderr, i.e. the journal)")
    init.add_argument("--ingest-workers", type=int, default=1, metavar="N",
                      help="issue certificates for 'scc-central ingest --workers N' (default 1; see 'central')")

    central = with_dir("central", "issue central's missing certificates: one per ingest worker, commands, alerts")
    central.add_argument("--ingest-workers", type=int, default=1, metavar="N",
                         help="how many ingest workers will run ('scc-central ingest --workers N'; default 1)")

    config = with_dir("broker-config", "regenerate mosquitto.conf (after an upgrade); restart the broker after")
    config.add_argument("--persistence-dir", type=Path, help="as given to init (default DIR/broker/persistence)")
    config.add_argument("--log-file", type=Path, help="as given to init (default: stderr, i.e. the journal)")

    agent = with_dir("agent", "issue an edge agent's certificate and enrollment bundle")
    agent.add_argument("--regency", required=True, help="the regency's Kemendagri code, e.g. 16.71")
    agent.add_argument("--name", required=True, help="the agent's name: its certificate CN and topic id")

    reader = with_dir("reader", "issue a third-party reader's certificate (read scc/v1/public/# only)")
    reader.add_argument("--name", required=True)

    revoke = with_dir("revoke", "revoke a certificate: add it to the CRL and remove it from the ACL")
    revoke.add_argument("--name", required=True)

    listing = with_dir("list", "list every issued certificate")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _print_issue(result: operations.ClientIssue) -> None:
    cert = result.cert
    where = f" for regency {cert.regency}" if cert.regency else ""
    expires = f"{cert.not_after:%Y-%m-%d}"
    print(f"issued {cert.role.value} {cert.name!r}{where}: serial {cert.serial}, expires {expires}")
    print(f"enrollment bundle (holds the private key; deliver securely): {result.bundle_path}")


def _table(certificates: Sequence[IssuedCert]) -> str:
    rows = [("NAME", "ROLE", "REGENCY", "SERIAL", "EXPIRES", "STATUS")]
    for cert in certificates:
        status = f"revoked {cert.revoked_at:%Y-%m-%d}" if cert.revoked and cert.revoked_at else "valid"
        rows.append(
            (
                cert.name,
                cert.role.value,
                cert.regency or "-",
                cert.serial,
                f"{cert.not_after:%Y-%m-%d}",
                status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code (0 done, 1 file system error, 2 operator error)."""
    args = _parser().parse_args(argv)
    directory: Path = args.dir
    if args.command == "init":
        registry = operations.init(
            directory,
            args.broker_host,
            port=args.port,
            persistence_dir=args.persistence_dir,
            log_file=args.log_file,
            ingest_workers=args.ingest_workers,
        )
        layout = Layout(directory.resolve())
        hosts = ", ".join(registry.broker.hosts)
        print(f"initialised {layout.root}: broker {hosts} port {registry.broker.port}")
        print(f"start the broker with: mosquitto -c {layout.mosquitto_conf}")
    elif args.command == "central":
        new = operations.ensure_central(directory, args.ingest_workers)
        layout = Layout(directory.resolve())
        if new:
            print(f"issued {', '.join(new)} into {layout.clients_dir}")
            print("their ACL blocks take effect after the broker reloads:")
            print(RELOAD_HINT)
        else:
            print(f"central's certificates for {args.ingest_workers} ingest worker(s) are all issued")
    elif args.command == "broker-config":
        path = operations.rewrite_broker_config(directory, args.persistence_dir, args.log_file)
        print(f"wrote {path}; restart the broker (systemctl restart mosquitto): a reload does not apply "
              "every setting")
    elif args.command == "agent":
        _print_issue(operations.issue_client(directory, Role.AGENT, args.name, args.regency))
        print("no broker reload needed: the ACL's agent patterns already cover a new agent")
    elif args.command == "reader":
        _print_issue(operations.issue_client(directory, Role.READER, args.name))
        print("the reader's ACL block takes effect after the broker reloads:")
        print(RELOAD_HINT)
    elif args.command == "revoke":
        cert, newly = operations.revoke(directory, args.name)
        what = "revoked" if newly else "already revoked"
        print(f"{what} {cert.role.value} {cert.name!r} (serial {cert.serial})")
        print(RELOAD_HINT)
    elif args.command == "list":
        certificates = list(load_registry(directory))
        if args.json:
            print(json.dumps([cert.to_json() for cert in certificates], indent=2))
        else:
            print(_table(certificates))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: operator errors become one line on stderr and exit code 2, not a traceback."""
    try:
        return run(argv)
    except ProvisioningError as error:
        print(f"scc-provision: error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # e.g. no permission on --dir: the OS message names the file
        print(f"scc-provision: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
