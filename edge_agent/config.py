"""agent.toml: the edge agent's typed configuration; a bad file stops the agent naming the file and key."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from edge_agent.scrub import register_secret, register_url_secrets
from edge_agent.websites.config import WebsiteConfigError, WebsiteTarget, load_website_targets
from shared.messages import Identifier, RegencyCode
from shared.validation import format_validation_error

DEFAULT_ETC = Path("/etc/scc")
DEFAULT_CONFIG_PATH = DEFAULT_ETC / "agent.toml"

Host = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]_-]+$")]


def _network(value: Any) -> Any:
    """Refuse ``10.0.0.5/24`` naming the network meant, not pydantic's "not a valid IPv4 network"."""
    if isinstance(value, str):
        try:
            ipaddress.IPv4Network(value)
        except ValueError as error:
            if "host bits set" in str(error):
                meant = ipaddress.IPv4Network(value, strict=False)
                raise PydanticCustomError("host_bits_set", "host bits set: did you mean {meant}?",
                                          {"meant": str(meant)}) from None
    return value


# A CIDR in agent.toml: [[networks]] cidr and [discovery] ranges.
Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_network)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentSection(Section):
    name: Identifier = Field(description="Agent name; must equal the certificate's CN.")
    regency: RegencyCode
    state_dir: Path = Field(Path("/var/lib/scc-agent"), description="Outbox, frame history, website state.")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")


class BrokerSection(Section):
    host: Host
    port: int = Field(8883, ge=1, le=65535)
    hosts: list[str] = Field(default_factory=list, description="Other names of the broker (informational).")
    keepalive_s: int = Field(30, ge=5, le=600)
    session_expiry_s: int = Field(86_400, ge=0)
    reconnect_min_s: int = Field(1, ge=1)
    reconnect_max_s: int = Field(60, ge=1, description="Longest wait between reconnection attempts.")


class TlsSection(Section):
    """Relative paths are relative to the directory agent.toml is in."""

    ca_file: Path
    cert_file: Path
    key_file: Path


class OutboxSection(Section):
    path: Path | None = Field(None, description="SQLite file; default STATE_DIR/outbox.sqlite.")
    max_bytes: int = Field(64 * 1024 * 1024, ge=16 * 1024)
    max_age_s: float = Field(7 * 86_400, gt=0)
    max_inflight: int = Field(64, ge=1, le=1000, description="Reports handed to MQTT and not yet acknowledged.")
    confirm_timeout_s: float = Field(
        120.0, ge=1,
        description="A report the broker accepted but central has not confirmed storing after this long "
                    "(connected all along) is sent again, same msg_id.",
    )
    confirm_timeout_max_s: float = Field(
        1800.0, ge=1,
        description="While central confirms nothing, each resend round waits twice as long as the last, up to this.",
    )


class ScheduleSection(Section):
    interval_s: float = Field(60.0, ge=1, description="How often each camera is checked.")
    jitter: float = Field(0.1, ge=0, le=0.5, description="Each interval varies by up to this fraction.")
    concurrency: int = Field(48, ge=1, le=1024, description="Cameras checked at the same time.")
    decode_every_s: float = Field(
        600.0, ge=1,
        description="Decode each camera's RTSP stream at most this often, on a rotation of its own beside the "
                    "checks. With many cameras a rotation takes longer: each camera is decoded at least every "
                    "max(decode_every_s, cameras x ~2.5 s / rtsp_concurrency), e.g. 1,000 cameras and 2 slots: "
                    "~21 min.",
    )
    rtsp_every: int | None = Field(
        None, ge=1, description="Deprecated: decode every Nth check; read as decode_every_s = N x interval_s.",
    )
    rtsp_concurrency: int = Field(2, ge=1, le=64, description="RTSP decodes at the same time (their own slots).")
    workers: int = Field(2, ge=1, le=64, description="Threads for decoding, analysis and JPEG encoding.")
    second_look_s: float = Field(
        2.0, ge=0, le=10,
        description="A healthy-looking snapshot is fetched again this many seconds later and compared "
                    "(identical: frozen), so a freeze shows at the first check after it; 0: off. The wait "
                    "holds no check slot.",
    )
    offline_after: int = Field(3, ge=1, description="Consecutive hard failures before a camera is offline.")
    backoff_max_s: float = Field(900.0, ge=1, description="Longest interval for a camera that stays dead.")
    thumbnail_every_s: float = Field(600.0, ge=1, description="Send a thumbnail at least this often.")
    metrics_every_s: float = Field(60.0, ge=1)
    discovery_every_s: float = Field(3600.0, ge=10)
    onvif_refresh_s: float = Field(1800.0, ge=10, description="Re-read profiles and URIs this often.")

    @model_validator(mode="after")
    def _legacy_rtsp_every(self) -> ScheduleSection:
        # agent.toml files written before the decode rotation say rtsp_every; keep them working.
        if self.rtsp_every is not None and "decode_every_s" not in self.model_fields_set:
            self.decode_every_s = self.rtsp_every * self.interval_s
        return self


class TimeoutSection(Section):
    connect_s: float = Field(3.0, gt=0)
    onvif_s: float = Field(8.0, gt=0)
    snapshot_s: float = Field(8.0, gt=0)
    rtsp_open_s: float = Field(8.0, gt=0)
    rtsp_read_s: float = Field(5.0, gt=0)
    rtsp_probe_s: float = Field(2.5, gt=0, description="How long frames are read to measure fps.")
    slow_warn_s: float = Field(2.0, gt=0, description="Answers slower than this are reported (warn).")


class ThresholdSection(Section):
    black_mean: float = Field(10.0, ge=0, le=255, description="Mean luma at or below: black.")
    dark_mean: float = Field(45.0, ge=0, le=255, description="Mean luma at or below: dark.")
    covered_std: float = Field(3.0, ge=0, description="Luma standard deviation at or below: covered/uniform.")
    blur_laplacian: float = Field(40.0, ge=0, description="Variance of the Laplacian at or below: blurred.")
    frozen_diff: float = Field(0.35, ge=0, description="Mean absolute change at or below: frozen.")
    thumbnail_change: float = Field(6.0, ge=0, description="Mean absolute change that triggers a thumbnail.")
    clock_warn_s: float = Field(300.0, ge=0, description="Camera clock offset that is reported.")
    fps_ratio: float = Field(0.5, gt=0, le=1, description="Measured/profile fps below this: low fps.")


class LiveSection(Section):
    """Live view on demand (docs/live-view.md): what one agent's link gives to live frames."""

    enabled: bool = True
    max_kbps: int = Field(2000, ge=64, description="Budget for all live streams together, kilobits per second.")
    max_fps: float = Field(5.0, gt=0, le=25, description="Most frames per second one stream sends.")
    max_width: int = Field(640, ge=160, le=1920, description="Frames wider than this are scaled down.")
    jpeg_quality: int = Field(70, ge=30, le=95, description="Starting JPEG quality; lowered when the budget binds.")
    max_streams: int = Field(4, ge=1, le=32, description="Cameras streamed at once; more are refused (busy).")
    max_duration_s: float = Field(900.0, gt=0, description="A stream ends after this long even if watched.")


class DiscoverySection(Section):
    enabled: bool = True
    interfaces: list[str] = Field(default_factory=list, description="Multicast probe on these; empty: all.")
    ranges: list[Cidr] = Field(default_factory=list, description="Unicast probe these CIDRs.")
    listen_s: float = Field(3.5, ge=3.0, description="Listen this long after the first probe.")
    repeats: int = Field(3, ge=1, le=10, description="Probe this many times while listening (UDP is lossy).")
    unicast_rate: int = Field(2000, ge=1, description="Unicast probes per second.")
    multicast: bool = True
    port: int = Field(3702, ge=1, le=65535, description="WS-Discovery port cameras listen on.")
    lost_after: int = Field(3, ge=1, description="Discovery rounds a discovered camera may miss before it is lost.")


class NetworkSection(Section):
    """A camera network (VLAN): default credentials and owning office for cameras inside it."""

    cidr: Cidr
    username: str = ""
    password: SecretStr = SecretStr("")
    opd: str = ""
    basic_in_clear: bool = Field(
        True,
        description="Answer a camera's Basic challenge over plain http:// or rtsp://, which sends the password "
                    "in clear; false: report snapshot_basic_refused / rtsp_basic_refused instead. Digest and "
                    "https/rtsps are not affected.",
    )


class CameraSection(Section):
    id: Identifier
    host: Host
    port: int = Field(80, ge=1, le=65535)
    name: str = ""
    opd: str = ""
    username: str | None = None
    password: SecretStr | None = None
    snapshot_url: str | None = Field(None, description="Only for cameras whose ONVIF gives none.")
    rtsp_url: str | None = Field(None, description="Only for cameras whose ONVIF gives none.")
    onvif: bool = Field(True, description="False for cameras that do not speak ONVIF at all.")
    onvif_url: str | None = Field(None, description="The ONVIF device service URL when it is not "
                                  "http://host:port/onvif/device_service (another path, or https).")

    @field_validator("onvif_url")
    @classmethod
    def _device_service_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("onvif_url must be an http:// or https:// URL with a host")
        return value


class AgentConfig(Section):
    """Everything the agent reads from agent.toml."""

    agent: AgentSection
    broker: BrokerSection
    tls: TlsSection
    outbox: OutboxSection = OutboxSection()
    schedule: ScheduleSection = ScheduleSection()
    timeouts: TimeoutSection = TimeoutSection()
    thresholds: ThresholdSection = ThresholdSection()
    live: LiveSection = LiveSection()
    discovery: DiscoverySection = DiscoverySection()
    networks: list[NetworkSection] = Field(default_factory=list)
    cameras: list[CameraSection] = Field(default_factory=list)
    websites: list[WebsiteTarget] = Field(default_factory=list)
    websites_files: list[Path] = Field(
        default_factory=list,
        description="TOML files of [defaults] and [[websites]] (e.g. the provincial list), checked as well as "
                    "the inline [[websites]]; relative paths are relative to agent.toml's directory.",
    )

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cameras: list[CameraSection]) -> list[CameraSection]:
        # Reported as "file:cameras: ..." naming both entries, not as a top-level "Value error".
        first: dict[str, int] = {}
        for index, camera in enumerate(cameras):
            if camera.id in first:
                raise PydanticCustomError(
                    "duplicate_camera_id", "camera id '{id}' is used twice (cameras.{first} and cameras.{second})",
                    {"id": camera.id, "first": first[camera.id], "second": index},
                )
            first[camera.id] = index
        return cameras

    @property
    def outbox_path(self) -> Path:
        return self.outbox.path or self.agent.state_dir / "outbox.sqlite"

    def credentials_for(self, host: str, camera: CameraSection | None = None) -> tuple[str, str]:
        """The camera's own credentials, else the most specific network's default, else empty."""
        if camera is not None and camera.username is not None:
            password = camera.password.get_secret_value() if camera.password else ""
            return camera.username, password
        network = self.network_for(host)
        if network is None:
            return "", ""
        return network.username, network.password.get_secret_value()

    def network_for(self, host: str) -> NetworkSection | None:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        matches = [n for n in self.networks if address in n.cidr]
        return max(matches, key=lambda n: n.cidr.prefixlen) if matches else None


class ConfigError(Exception):
    """An agent.toml that cannot be used; the message lists 'file:key: problem' lines."""


def _resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path)


def parse_config(data: dict[str, Any], source: str, base_dir: Path) -> AgentConfig:
    """Validate a parsed TOML document; relative paths are resolved against ``base_dir``."""
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None
    websites = _with_website_files(config.websites, [_resolve(base_dir, f) for f in config.websites_files], source)
    tls = TlsSection(
        ca_file=_resolve(base_dir, config.tls.ca_file),
        cert_file=_resolve(base_dir, config.tls.cert_file),
        key_file=_resolve(base_dir, config.tls.key_file),
    )
    config = config.model_copy(update={"tls": tls, "websites": websites})
    for network in config.networks:
        register_secret(network.password.get_secret_value())
    for camera in config.cameras:
        if camera.password is not None:
            register_secret(camera.password.get_secret_value())
        register_url_secrets(camera.snapshot_url)
        register_url_secrets(camera.rtsp_url)
        register_url_secrets(camera.onvif_url)
    return config


def _with_website_files(inline: list[WebsiteTarget], files: list[Path], source: str) -> list[WebsiteTarget]:
    """The inline targets then each file's; an id defined twice is refused naming both places."""
    if not files:
        return inline
    where = {target.id: f"{source}:websites.{index}" for index, target in enumerate(inline)}
    targets = list(inline)
    for path in files:
        try:
            loaded = load_website_targets(path)
        except WebsiteConfigError as error:
            raise ConfigError(str(error)) from None
        for index, target in enumerate(loaded):
            if target.id in where:
                raise ConfigError(f"{path}:websites.{index}.id: website id '{target.id}' is already defined "
                                  f"({where[target.id]})")
            where[target.id] = f"{path}:websites.{index}"
            targets.append(target)
    return targets


def load_config(path: Path = DEFAULT_CONFIG_PATH) -> AgentConfig:
    """Read and validate agent.toml, or raise ConfigError naming the file, the key and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (enroll first: scc-agent enroll BUNDLE)") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_config(data, str(path), path.parent)
