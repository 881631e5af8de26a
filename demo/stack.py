"""Bring up the whole SCC stack on one machine: PKI, broker, central, simulator and the regencies' agents."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from demo.accounts import Credentials, ensure_credentials
from demo.processes import StartError, Supervisor, free_port, http_answers, port_is_free, tcp_open
from demo.rollout import ensure_rollout_plan
from demo.scenario import DemoAgent, DemoScenario
from demo.webhook_receiver import SECRET_ENV
from shared.regencies import PROVINCE_NAME, all_regencies, get_regency

BIN = Path(sys.executable).parent
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
BROKER_HOSTS = ("127.0.0.1", "localhost")
# A third-party reader certificate (docs/third-party.md), so the public topics can be watched.
READER = "demo-reader"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the command line chose; ports of 0 mean 'any free port'."""

    state_dir: Path
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    broker_port: int = 18883
    web_workers: int = 2
    fresh: bool = False


@dataclass(slots=True)
class Running:
    """What the operator needs to know once everything is up."""

    url: str
    credentials: Credentials
    broker_port: int
    simulator_control: str | None
    agents_started: list[str]
    state_dir: Path
    webhook_log: Path | None = None
    reader: str | None = None


def _run(argv: Sequence[str | os.PathLike[str]], what: str, env: Mapping[str, str] | None = None) -> str:
    """Run a one-shot step; its output is shown only when it fails (it may be long, never secret)."""
    result = subprocess.run(
        [str(part) for part in argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise StartError(
            f"{what} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}".rstrip()
        )
    return result.stdout


class Stack:
    """The demo's pieces, started in dependency order by ``start``; ``Supervisor.stop_all`` ends them."""

    def __init__(self, options: DemoOptions, scenario: DemoScenario, supervisor: Supervisor) -> None:
        self.options = options
        self.scenario = scenario
        self.supervisor = supervisor
        self.state = options.state_dir.resolve()
        self.pki = self.state / "pki"
        self.central_dir = self.state / "central"
        self.central_config = self.state / "central.toml"
        self.broker_port = 0
        self.web_url = ""
        self.webhook_url = ""
        self.webhook_log = self.state / "webhook-alerts.jsonl"

    # --- the steps, in order --------------------------------------------------------------------

    def start(self, say: Any = print) -> Running:
        self._prepare_state()
        self.broker_port = self._choose_broker_port()
        self.web_url = self._choose_web_url()
        say(f"provisioning the CA, {len(self.scenario.agents)} agent bundles and a reader in {self.pki}")
        self.provision()
        say(f"starting Mosquitto (mutual TLS) on 127.0.0.1:{self.broker_port}")
        self.start_broker()
        say(f"starting the alert webhook receiver (deliveries logged to {self.webhook_log})")
        self.start_webhook_receiver()
        say("preparing central's database")
        credentials = self.setup_central()
        say("starting central ingest")
        self.start_ingest()
        say("starting the live-view relay")
        self.start_live_relay()
        url = self.start_web()
        say(f"central web is up at {url}")
        say(
            f"starting the simulator: {self.scenario.total_cameras} cameras, {self.scenario.total_websites} websites"
        )
        fleet = self.start_simulator()
        agents = self.start_agents(fleet, say)
        # Last: agents that were down since the previous run have reconnected by its first round, so
        # a restart does not page everyone with "agent offline" for the time the demo was stopped.
        say("starting central alerts")
        self.start_alerts()
        return Running(
            url=url,
            credentials=credentials,
            broker_port=self.broker_port,
            simulator_control=fleet.get("control_url") if fleet else None,
            agents_started=agents,
            state_dir=self.state,
            webhook_log=self.webhook_log if self.webhook_url else None,
            reader=READER,
        )

    def _prepare_state(self) -> None:
        if self.options.fresh and self.state.exists():
            shutil.rmtree(self.state)
        self.state.mkdir(parents=True, exist_ok=True)
        # Mosquitto drops from root to its own user and then re-reads files below here: let it traverse.
        os.chmod(self.state, 0o755)
        if os.geteuid() == 0:
            closed = [p for p in self.state.parents if p.stat().st_mode & 0o001 == 0]
            if closed:
                raise StartError(
                    f"the broker (user mosquitto) cannot reach {self.state}: {closed[0]} is not "
                    "world-traversable; choose another --state-dir or chmod o+x it"
                )

    def _choose_broker_port(self) -> int:
        wanted = self.options.broker_port
        existing = self._provisioned_port()
        if wanted == 0:
            return existing if existing and port_is_free(existing) else free_port()
        if not port_is_free(wanted):
            raise StartError(f"broker port {wanted} is in use; pick another with --broker-port (0: any)")
        return wanted

    def _provisioned_port(self) -> int | None:
        try:
            text = (self.pki / "broker" / "mosquitto.conf").read_text(encoding="utf-8")
        except OSError:
            return None
        match = re.search(r"^listener (\d+)", text, re.MULTILINE)
        return int(match.group(1)) if match else None

    def provision(self) -> None:
        """``scc-provision init`` once (again if the port changed: it is in the bundles), then the agents."""
        provision = BIN / "scc-provision"
        if (self.pki / "registry.json").exists() and self._provisioned_port() != self.broker_port:
            shutil.rmtree(self.pki)
            shutil.rmtree(self.state / "agents", ignore_errors=True)
        persistence = self.state / "mosquitto"
        persistence.mkdir(exist_ok=True)
        _give_to_mosquitto(persistence)
        if not (self.pki / "registry.json").exists():
            _run(
                [provision, "init", "--dir", self.pki, "--broker-host", *BROKER_HOSTS,
                 "--port", str(self.broker_port), "--persistence-dir", persistence],
                "scc-provision init",
            )  # fmt: skip
        else:  # a demo state from an older release: this release's certificates and broker settings
            _run([provision, "central", "--dir", self.pki], "scc-provision central")
            _run([provision, "broker-config", "--dir", self.pki, "--persistence-dir", persistence],
                 "scc-provision broker-config")
        issued = {
            cert["name"]
            for cert in json.loads(_run([provision, "list", "--dir", self.pki, "--json"], "list"))
        }
        for agent in self.scenario.agents:
            if agent.name not in issued:
                _run(
                    [provision, "agent", "--dir", self.pki, "--regency", agent.regency, "--name", agent.name],
                    f"scc-provision agent {agent.name}",
                )
        # Issued before the broker starts: it reads the readers' ACL block only at start or reload.
        if READER not in issued:
            _run([provision, "reader", "--dir", self.pki, "--name", READER], f"scc-provision reader {READER}")

    def start_broker(self) -> None:
        conf = self.pki / "broker" / "mosquitto.conf"
        child = self.supervisor.start("mosquitto", [MOSQUITTO, "-c", conf])
        self.supervisor.wait_until(
            child, lambda: tcp_open("127.0.0.1", self.broker_port), "listening broker", timeout=20
        )

    def setup_central(self) -> Credentials:
        self.central_dir.mkdir(exist_ok=True)
        config: dict[str, Any] = {
            "state_dir": str(self.central_dir),
            "database": {"url": f"sqlite:///{self.central_dir / 'central.db'}"},
            "broker": {
                "host": "127.0.0.1",
                "port": self.broker_port,
                "ca": str(self.pki / "ca.crt"),
                "cert": str(self.pki / "clients" / "central.crt"),
                "key": str(self.pki / "clients" / "central.key"),
            },
            "pki": {"dir": str(self.pki)},
            # Plain http on 127.0.0.1: a Secure cookie would never come back and login would loop.
            "web": {"session_cookie_secure": False},
            # The provincial agent's websites are the province's own offices', not Palembang's.
            "province": {"agents": [agent.name for agent in self.scenario.agents if agent.provincial]},
        }
        config = _merged(config, self.scenario.central_settings)
        config["alerts"] = _merged(config.get("alerts", {}), self._alert_channels())
        # It holds the webhook's signing key: owner-only from the first byte.
        _write_private(self.central_config, tomli_w.dumps(config))
        central: list[str | Path] = [BIN / "scc-central", "--config", self.central_config]
        _run([*central, "db", "upgrade"], "scc-central db upgrade")
        # The /rollout tracker needs targets and dates; an operator's own edits are kept.
        ensure_rollout_plan(self.central_config, self.scenario)
        return ensure_credentials(self.central_config, self.state)

    def start_ingest(self) -> None:
        central: list[str | Path] = [BIN / "scc-central", "--config", self.central_config]
        child = self.supervisor.start("central-ingest", [*central, "ingest"])
        self.supervisor.wait_until(child, lambda: True, "start", timeout=1)

    def _alert_channels(self) -> dict[str, Any]:
        """Where the demo's alerts go: the public MQTT alert topic and, once it runs, the local webhook."""
        channels: dict[str, Any] = {"public_url": self.web_url, "mqtt": {"enabled": True}}
        if self.webhook_url:
            channels["webhooks"] = [
                {"name": "demo-webhook", "url": self.webhook_url, "secret": self._webhook_secret()}
            ]
            channels["webhook_allowed_networks"] = ["127.0.0.0/8", "::1/128"]  # the demo's local receiver
        return channels

    def _webhook_secret(self) -> str:
        # Kept across runs like the login, so a receiver and a central from different runs still agree.
        path = self.state / "webhook-secret"
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError:
            secret = secrets.token_urlsafe(24)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secret)
            return secret

    def start_webhook_receiver(self) -> None:
        child = self.supervisor.start(
            "webhook-receiver",
            [sys.executable, "-m", "demo.webhook_receiver", "--log", self.webhook_log],
            # In the environment, not argv: any local user can read another's command line.
            env={SECRET_ENV: self._webhook_secret()},
            capture_first_line=True,
        )
        self.webhook_url = self.supervisor.wait_first_line(child, timeout=30)

    def start_alerts(self) -> None:
        central: list[str | Path] = [BIN / "scc-central", "--config", self.central_config]
        child = self.supervisor.start("central-alerts", [*central, "alerts", "run"])
        self.supervisor.wait_until(child, lambda: True, "start", timeout=1)

    def start_live_relay(self) -> None:
        central: list[str | Path] = [BIN / "scc-central", "--config", self.central_config]
        child = self.supervisor.start("central-live-relay", [*central, "live-relay"])
        self.supervisor.wait_until(child, lambda: True, "start", timeout=1)

    def _choose_web_url(self) -> str:
        host, port = self.options.web_host, self.options.web_port
        if port == 0:
            port = free_port(host)
        elif not port_is_free(port, host):
            raise StartError(f"web port {port} is in use; pick another with --web-port (0: any)")
        return f"http://{host}:{port}"

    def start_web(self) -> str:
        url = self.web_url
        host, port = self.options.web_host, int(url.rsplit(":", 1)[1])
        # 'serve' execs gunicorn with central/web/gunicorn_conf.py.
        child = self.supervisor.start(
            "central-web",
            [BIN / "scc-central", "--config", self.central_config, "serve", "--bind", f"{host}:{port}",
             "--workers", str(self.options.web_workers), "--threads", "16"],
        )  # fmt: skip
        self.supervisor.wait_until(child, lambda: http_answers(url + "/"), "HTTP answer", timeout=60)
        return url

    def start_simulator(self) -> dict[str, Any]:
        scenario_path = self.state / "simulator-scenario.toml"
        web_ca = self.state / "simulator-web-ca"
        scenario_path.write_text(tomli_w.dumps(self.scenario.simulator_scenario(web_ca)), encoding="utf-8")
        child = self.supervisor.start(
            "simulator",
            [BIN / "scc-sim", "--cameras", str(self.scenario.total_cameras),
             "--websites", str(self.scenario.total_websites), "--scenario", scenario_path, "--json",
             "--http-port", "0", "--rtsp-port", "0", "--control-port", "0", "--discovery-port", "0",
             "--no-multicast"],
            capture_first_line=True,
        )  # fmt: skip
        line = self.supervisor.wait_first_line(child, timeout=120)
        try:
            fleet: dict[str, Any] = json.loads(line)
        except ValueError:
            raise StartError(
                f"the simulator printed {line[:200]!r} instead of its JSON description"
            ) from None
        fleet["website_ca_file"] = str(web_ca / "simulator-web-ca.pem")
        (self.state / "simulator-fleet.json").write_text(json.dumps(fleet, indent=2), encoding="utf-8")
        return fleet

    def start_agents(self, fleet: Mapping[str, Any], say: Any = print) -> list[str]:
        agent_cli = [BIN / "scc-agent"]
        started = []
        for agent in self.scenario.agents:
            etc = self.state / "agents" / agent.name / "etc"
            self.enroll(agent, etc)
            self.write_agent_config(agent, etc, fleet)
            what = "for the provincial OPD websites, reported under" if agent.provincial else "for"
            say(f"starting {agent.name} {what} {get_regency(agent.regency).display_name} ({agent.regency})")
            child = self.supervisor.start(agent.name, [*agent_cli, "--config", etc / "agent.toml", "run"])
            self.supervisor.wait_until(child, lambda: True, "start", timeout=1)
            started.append(agent.name)
        return started

    # --- agents -----------------------------------------------------------------------------------

    def enroll(self, agent: DemoAgent, etc: Path) -> None:
        bundle = self.pki / "bundles" / f"{agent.name}.tar.gz"
        etc.mkdir(parents=True, exist_ok=True)
        # --force: the demo rewrites agent.toml from the scenario on every start anyway.
        _run([BIN / "scc-agent", "enroll", bundle, "--etc", etc, "--force"], f"scc-agent enroll {agent.name}")

    def write_agent_config(self, agent: DemoAgent, etc: Path, fleet: Mapping[str, Any]) -> Path:
        """The enrolled agent.toml plus the demo's cameras, websites and faster schedule."""
        path = etc / "agent.toml"
        config = tomllib.loads(path.read_text(encoding="utf-8"))
        config.setdefault("agent", {})["state_dir"] = str(etc.parent / "state")
        # Cameras are listed: three agents on one host must not all discover the whole fleet.
        config["discovery"] = {"enabled": False}
        for section, values in self.scenario.agent_settings.items():
            config.setdefault(section, {}).update(values)
        config["cameras"] = _agent_cameras(agent, fleet)
        websites = _agent_websites(agent, fleet)
        if agent.provincial:
            # As on the central box (docs/operations.md): the provincial list is a file of its own that
            # agent.toml names, not entries pasted in.
            listing = etc / "provincial_opds.toml"
            _write_private(listing, tomli_w.dumps({"websites": websites}))
            config["websites_files"] = [str(listing)]
            config.pop("websites", None)
        else:
            config["websites"] = websites
        # It holds the cameras' passwords.
        _write_private(path, tomli_w.dumps(config))
        return path


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, owner-only from the first byte (it holds passwords or keys)."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    temporary.replace(path)


def _agent_cameras(agent: DemoAgent, fleet: Mapping[str, Any]) -> list[dict[str, Any]]:
    by_index = {int(camera["index"]): camera for camera in fleet.get("cameras", [])}
    cameras = []
    for number, index in enumerate(agent.camera_indices(), start=1):
        camera = by_index.get(index)
        if camera is None:
            continue
        cameras.append(
            {
                "id": camera["id"],
                "host": camera["host"],
                "port": int(camera["onvif_port"]),
                "name": agent.camera_name(number),
                "opd": agent.opd,
                # The installer's record: a camera whose password was changed since then stays wrong.
                "username": "admin",
                "password": _installer_password(camera),
            }
        )
    return cameras


def _installer_password(camera: Mapping[str, Any]) -> str:
    # The simulator reports the camera's *current* password; with wrong_credentials it differs from what
    # the installer wrote down, which is the fleet-wide default the other cameras still use.
    if "wrong_credentials" in camera.get("faults", {}):
        from simulator.scenario import DEFAULT_PASSWORD

        return DEFAULT_PASSWORD
    return str(camera["password"])


def _agent_websites(agent: DemoAgent, fleet: Mapping[str, Any]) -> list[dict[str, Any]]:
    sites = list(fleet.get("websites", []))
    if agent.provincial:
        return _provincial_websites(agent, fleet, sites)
    regency = get_regency(agent.regency)
    targets = []
    for index in agent.website_indices():
        if index >= len(sites):
            break
        site = sites[index]
        office = _office_of(str(site.get("opd", "")))
        targets.append(
            {
                "id": f"{_slug(office)}-{regency.slug}"[:64].rstrip("-"),
                "url": site["url"],
                "opd": f"{office} {regency.display_name}",
                "ca_file": fleet["website_ca_file"],
            }
        )
    return targets


def _provincial_websites(
    agent: DemoAgent, fleet: Mapping[str, Any], sites: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The provincial list's entries in order, each with its URL swapped for a simulated site's."""
    from edge_agent.websites import provincial_targets

    targets = []
    for target, index in zip(provincial_targets(), agent.website_indices(), strict=False):
        if index >= len(sites):
            break
        entry = target.model_dump(mode="json", exclude_defaults=True)
        entry.update(url=sites[index]["url"], ca_file=fleet["website_ca_file"])
        # Shown under Kota Palembang next to the city's own offices: "Dinas Kesehatan" alone is ambiguous.
        if "Provinsi" not in target.opd:
            entry["opd"] = f"{target.opd} Provinsi {PROVINCE_NAME}"
        targets.append(entry)
    return targets


def _merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, table by table: [central.alerts.rules.x] keeps alerts' other keys."""
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _merged(result[key], value)
        else:
            result[key] = value
    return result


def _office_of(opd: str) -> str:
    """'Dinas Kesehatan Kabupaten Lahat' -> 'Dinas Kesehatan': the simulator names sites after any regency."""
    for regency in all_regencies():
        if opd.endswith(regency.display_name):
            return opd[: -len(regency.display_name)].strip()
    return opd or "OPD"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "opd"


def _give_to_mosquitto(path: Path) -> None:
    """Mosquitto started as root writes its persistence as user mosquitto; elsewhere it runs as us."""
    if os.geteuid() != 0:
        return
    import pwd

    try:
        user = pwd.getpwnam("mosquitto")
    except KeyError:
        return
    os.chown(path, user.pw_uid, user.pw_gid)
