"""central.toml: the central server's typed configuration, with errors that name the file and key."""

from __future__ import annotations

import tomllib
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_serializer,
)

from central.alerts.config import AlertsConfig
from central.redact import DatabaseUrl, database_url
from central.reports.config import ReportsConfig
from central.storage.queries import owner_code
from shared.mqtt import TlsFiles
from shared.regencies import PROVINCE_OFFICES_NAME
from shared.validation import format_validation_error

DEFAULT_CONFIG_PATH = Path("/etc/scc/central.toml")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseConfig(Section):
    # A plain str to its users, but its repr masks the password: the config sits in app.config.
    url: Annotated[str, AfterValidator(DatabaseUrl)] = Field(
        DatabaseUrl("sqlite:////var/lib/scc/central.db"),
        description="SQLAlchemy URL: sqlite:///PATH (WAL) or postgresql+psycopg://user@host/db.",
    )
    retention_days: int = Field(30, ge=1, description="Raw check results older than this are deleted.")

    @field_serializer("url", when_used="json")
    def _masked_in_json(self, url: str) -> str:
        # Like SecretStr: a JSON dump is for showing, so it never carries the password.
        return database_url(url)


class BrokerConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8883, ge=1, le=65535)
    ca: Path = Path("/etc/scc/pki/ca.crt")
    # The ingest's certificate. Central's other connections use their own next to it (central-commands,
    # central-alerts, central-ingest-K; see shared.mqtt.TlsFiles.sibling): the broker makes each
    # certificate's name its client id, so processes sharing one would take each other's session.
    cert: Path = Path("/etc/scc/pki/clients/central.crt")
    key: Path = Path("/etc/scc/pki/clients/central.key")
    share_group: str = Field("scc-ingest", description="Shared-subscription group ingest workers join.")


    @property
    def tls(self) -> TlsFiles:
        """The ingest's TLS files (worker 0 of ``--workers N``)."""
        return TlsFiles(self.ca, self.cert, self.key)


class PkiConfig(Section):
    dir: Path = Field(Path("/etc/scc/pki"), description="scc-provision's directory with registry.json.")


class IngestConfig(Section):
    # Under a backlog, larger batches share each transaction's fixed cost (index pages, the camera rows,
    # public staging) among more reports: 2,000 stored ~25% more per second than 1,000 (performance.md).
    batch_size: int = Field(2000, ge=1, description="Most messages written in one transaction.")
    agent_offline_grace_s: float = Field(
        60.0, ge=0,
        description="An agent whose connection dies (its last will) counts as offline, its cameras unknown, only "
                    "if it has not reconnected this long after: a broker restart changes nothing on the wall. "
                    "Counted only while the ingest is connected and can store: after its own outage every agent "
                    "gets this long again. 0: at once.",
    )
    # An agent reports every check interval and sends host metrics every metrics_every_s (60 s by default,
    # both jittered by 10%), through store-and-forward: a live agent is rarely silent for more than ~70 s.
    agent_silence_s: float = Field(
        300.0, ge=0,
        description="An online agent from which nothing at all (no status, metrics or birth) was received this "
                    "long counts as offline (no_report), its cameras unknown: its last will may never come "
                    "(killed while the broker was down, a half-open link). About 4x the agents' longest "
                    "usual gap (60 s metrics and checks, jittered), so a slow or backlogged agent is not "
                    "taken offline. Counted only while the ingest is connected and can store, like the grace "
                    "period. The next message from it brings it back online. 0: never.",
    )
    batch_max_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1,
        description="Most payload bytes in one transaction (thumbnails are the big ones).",
    )
    batch_interval_s: float = Field(
        0.2, gt=0, description="Longest a received message waits for its batch to fill before being written."
    )
    # Twice a batch: the next batch arrives while one is written. A status report is ~0.7 kB and a
    # thumbnail ~10 kB, so a full window is a few MB to a few tens of MB in the worker's memory.
    receive_maximum: int = Field(
        4000, ge=1, le=65535, description="Unacknowledged messages the broker may have in flight to a worker."
    )
    republish: bool = Field(True, description="Republish curated state under scc/v1/public/.")
    summary_interval_s: float = Field(2.0, gt=0, description="Least time between two summaries of a regency.")
    thumbnails_per_camera: int = Field(5, ge=1, description="Newest thumbnails kept per camera.")
    silence_after_s: int = Field(
        900,
        ge=60,
        description="A camera or website without a report this long becomes 'unknown' (no_report).",
    )
    max_clock_skew_s: int = Field(
        120,
        ge=0,
        description="Reports stamped further than this ahead of their receipt are quarantined (clock_ahead); "
        "those within it count as received when they arrived.",
    )
    clock_flag_s: int = Field(
        30, ge=1, description="An agent stamping its reports further ahead than this is flagged and alerted."
    )
    max_cameras_per_agent: int = Field(
        2000,
        ge=1,
        description="Most cameras one agent may have in service; an inventory past it is quarantined (camera_cap).",
    )
    max_websites_per_agent: int = Field(
        500, ge=1, description="Most websites one agent may report; reports of more are quarantined (website_cap)."
    )
    maintenance_interval_s: float = Field(
        60.0, gt=0, description="How often a worker updates the daily rollups, marks silent devices, prunes."
    )


def _local_peers() -> list[IPv4Network | IPv6Network]:
    return [IPv4Network("127.0.0.1/32"), IPv6Network("::1/128")]


class LiveViewConfig(Section):
    """Live view (docs/live-view.md): the relay process, the leases it holds on agents, who may watch."""

    # A relative path is under state_dir. Not None for "the default": a config dumped to TOML has no null.
    socket: Path = Field(Path("live-view.sock"), description="The relay's Unix socket; relative: under state_dir.")
    lease_s: int = Field(15, ge=3, le=300, description="How long an agent streams without a renewal.")
    start_timeout_s: float = Field(12.0, gt=0, description="No frame by then: the viewer is told why.")
    max_s: float = Field(900.0, gt=0, description="A browser's live view ends after this long (it may ask again).")
    min_role: Literal["viewer", "operator", "admin"] = Field(
        "operator", description="The least role allowed to watch live (CCTV of public offices is sensitive).")
    wall_tiles: int = Field(4, ge=1, le=16, description="Most live tiles on a wall (/wall?live=<group>); the "
                            "group's other cameras show their snapshots. Each tile is one live view.")
    agent_kbps: int = Field(2000, ge=64, le=1_000_000, description="Bandwidth budget of one agent's link for all "
                            "its live streams together, kilobits per second: sent with live_start, and the agent "
                            "keeps to the lower of this and its own [live] max_kbps.")
    agents_kbps: dict[str, Annotated[int, Field(ge=64, le=1_000_000)]] = Field(
        default_factory=dict, description="Budgets of particular agents (agent name = kbps), for links thinner "
        "or thicker than agent_kbps.")
    stream_kbps: int = Field(500, ge=16, description="What one live stream needs at least (about 320 px at 3 "
                             "fps): a wall starts at most budget / stream_kbps streams of one agent and shows "
                             "its other tiles as beyond the bandwidth budget.")

    def socket_path(self, state_dir: Path) -> Path:
        return state_dir / self.socket  # an absolute socket path stays as it is

    def budget_kbps(self, agent: str) -> int:
        """The live-view budget of ``agent``'s link: its own entry in agents_kbps, else agent_kbps."""
        return self.agents_kbps.get(agent, self.agent_kbps)

    def streams_within_budget(self, agent: str) -> int:
        """How many live streams of ``agent`` a wall starts at once (at least one)."""
        return max(1, self.budget_kbps(agent) // self.stream_kbps)


class WebConfig(Section):
    secret_key: SecretStr = Field(
        SecretStr(""), description="Key signing the session cookie; empty: generated once and kept in the database, shared by every box."
    )
    public_status: bool = Field(False, description="Serve a read-only status page without login.")
    session_cookie_secure: bool = Field(True, description="Send the session cookie over HTTPS only.")
    session_hours: float = Field(12.0, gt=0, description="How long a login lasts.")
    default_locale: str = Field("id", description="'id' (Bahasa Indonesia) or 'en'.")
    timezone: str = "Asia/Jakarta"
    bind: str = Field("127.0.0.1:8080", description="gunicorn listen address for `scc-central serve`.")
    workers: int = Field(2, ge=1, description="gunicorn worker processes.")
    threads: int = Field(
        32, ge=2, description="Threads per worker for pages and the API (live streams have web.stream_slots)."
    )
    stream_slots: int = Field(
        256,
        ge=1,
        description="Live streams (one per open browser) a worker serves at most, each on a thread of its own "
        "beside web.threads: open screens never take the threads pages are served on.",
    )
    rollup_cache_s: float = Field(2.0, ge=0, description="How long a computed province rollup is reused.")
    sse_poll_s: float = Field(1.0, gt=0, description="How often a live stream polls the change feed.")
    sse_max_s: float = Field(
        55.0,
        gt=0,
        description="A live stream ends after this long (the browser reconnects), freeing its thread.",
    )
    wall_rotate_s: int = Field(20, ge=5, description="Seconds each page of the video wall stays up.")
    wall_refresh_s: int = Field(
        10,
        ge=2,
        description="How often a wall screen re-reads its page anyway; changes (camera states, alerts firing "
        "or acknowledged) reach it sooner through the live stream.",
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=_local_peers,
        description="Reverse proxies whose X-Forwarded-For/-Proto are believed (the default bind is local, "
        "so a local peer is the proxy). Requests from anywhere else are keyed on their own address.",
    )
    proxy_hops: int = Field(
        1, ge=1, le=5, description="Proxies in front of gunicorn that each append to X-Forwarded-For."
    )


class ProvinceConfig(Section):
    """The province's own offices (Pemprov: its OPDs and their websites), an owner of their own."""

    name: str = Field(
        PROVINCE_OFFICES_NAME, min_length=1, max_length=80, description="How pages name the province's offices."
    )
    agents: list[str] = Field(
        default_factory=list,
        description="Agents checking the province's own offices (e.g. the provincial OPD websites run on the "
        "central host): what they report counts for the province, not for the regency on their certificate.",
    )

    def owner_of(self, agent_name: str, regency_code: str) -> str:
        """Whose a camera or website is: see :func:`central.storage.queries.owner_code` (the one rule)."""
        return owner_code(agent_name, regency_code, self.agents)


class CentralConfig(Section):
    """Everything central reads from central.toml; every section has working defaults."""

    state_dir: Path = Path("/var/lib/scc")
    database: DatabaseConfig = DatabaseConfig()
    broker: BrokerConfig = BrokerConfig()
    pki: PkiConfig = PkiConfig()
    ingest: IngestConfig = IngestConfig()
    web: WebConfig = WebConfig()
    live_view: LiveViewConfig = LiveViewConfig()
    province: ProvinceConfig = ProvinceConfig()
    alerts: AlertsConfig = AlertsConfig()
    reports: ReportsConfig = ReportsConfig()


class ConfigError(Exception):
    """A central.toml that cannot be used; the message lists 'file:key: problem' lines."""


def load_config(path: Path | None = None) -> CentralConfig:
    """Read and validate central.toml; a missing default file means all defaults."""
    path = path or DEFAULT_CONFIG_PATH
    if not path.exists():
        if path == DEFAULT_CONFIG_PATH:
            return CentralConfig()
        raise ConfigError(f"{path}: file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_config(data, source=str(path))


def parse_config(data: dict[str, Any], source: str = "central.toml") -> CentralConfig:
    try:
        return CentralConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None
