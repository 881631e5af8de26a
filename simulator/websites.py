"""Many simulated OPD websites (HTTP and HTTPS, one port each) with injectable faults, in one asyncio thread.

Each site listens on its own port so that a refused connection and a per-site certificate are real
(a shared port would need SNI and hostnames a checker cannot resolve). URLs look like
``https://127.0.0.1:PORT/``. The server is a small HTTP/1.1 implementation on asyncio streams so
that faults can misbehave at the socket level (hang, drip, refuse), which a framework would hide.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.regencies import all_regencies
from simulator import websites_content as content
from simulator.websites_content import DateStyle, Post, SignalProfile, SiteContent
from simulator.websites_tls import DEFAULT_LEAF_DAYS, SimulatorCA

FRESH_NEWEST_AGE = dt.timedelta(hours=20)
_REQUEST_HEAD_LIMIT = 64 * 1024
_CHUNK = 64 * 1024


class WebsiteFault(StrEnum):
    """One injectable website misbehaviour; the value is its name in TOML, the CLI and set_fault."""

    DOWN = "down"  # mode: 5xx (default), 4xx, refused, timeout
    STALE = "stale"  # days: age of the newest post
    CERT_EXPIRING = "cert_expiring"  # days left
    CERT_EXPIRED = "cert_expired"  # days since expiry
    CERT_UNTRUSTED = "cert_untrusted"  # self-signed, not from the simulator CA
    REDIRECT_LOOP = "redirect_loop"
    HUGE = "huge"  # mb: size of the home page
    SLOW = "slow"  # seconds before every response
    NOT_HTML = "not_html"  # the home page is a PDF
    MALFORMED_API = "malformed_api"  # the WordPress REST API answers HTML
    MALFORMED_FEED = "malformed_feed"
    MALFORMED_SITEMAP = "malformed_sitemap"  # kind: broken (default) or bomb (entity expansion)
    HUGE_FEED = "huge_feed"  # mb
    HUGE_SITEMAP = "huge_sitemap"  # mb
    FUTURE_DATES = "future_dates"  # days: a post dated this far in the future
    NAIVE_DATES = "naive_dates"  # dates without a time zone offset
    MAINTENANCE = "maintenance"  # seconds: WordPress's maintenance page, 503 with this Retry-After
    GZIP_BOMB = "gzip_bomb"  # mb: a gzip-encoded home page that inflates to this many MiB of zeros


# The parameter a bare value sets, e.g. "stale=90" -> days=90, and the default when none is given.
_PRIMARY: dict[WebsiteFault, tuple[str, Any]] = {
    WebsiteFault.DOWN: ("mode", "5xx"),
    WebsiteFault.STALE: ("days", 120.0),
    WebsiteFault.CERT_EXPIRING: ("days", 10.0),
    WebsiteFault.CERT_EXPIRED: ("days", 5.0),
    WebsiteFault.HUGE: ("mb", 12.0),
    WebsiteFault.SLOW: ("seconds", 3.0),
    WebsiteFault.MALFORMED_SITEMAP: ("kind", "broken"),
    WebsiteFault.HUGE_FEED: ("mb", 12.0),
    WebsiteFault.HUGE_SITEMAP: ("mb", 12.0),
    WebsiteFault.FUTURE_DATES: ("days", 400.0),
    WebsiteFault.MAINTENANCE: ("seconds", 600.0),
    WebsiteFault.GZIP_BOMB: ("mb", 1024.0),
}
_NUMERIC_PARAMS = {"days", "mb", "seconds", "status"}
_DOWN_MODES = {"5xx", "4xx", "refused", "timeout"}
_CERT_FAULTS = {WebsiteFault.CERT_EXPIRING, WebsiteFault.CERT_EXPIRED, WebsiteFault.CERT_UNTRUSTED}
_OPD_NAMES: tuple[tuple[str, str], ...] = (
    ("dinkes", "Dinas Kesehatan"),
    ("disdik", "Dinas Pendidikan"),
    ("bappeda", "Bappeda"),
    ("diskominfo", "Dinas Komunikasi dan Informatika"),
    ("bpbd", "Badan Penanggulangan Bencana Daerah"),
    ("dpupr", "Dinas PUPR"),
    ("dishub", "Dinas Perhubungan"),
    ("dinsos", "Dinas Sosial"),
    ("inspektorat", "Inspektorat"),
    ("bkpsdm", "BKPSDM"),
    ("dispar", "Dinas Pariwisata"),
    ("dukcapil", "Dinas Kependudukan dan Pencatatan Sipil"),
)


class WebsiteFaultError(ValueError):
    """A website fault name, parameter or target the simulator does not understand."""


def parse_website_fault(name: str) -> WebsiteFault:
    key = name.strip().lower().replace("-", "_")
    try:
        return WebsiteFault(key)
    except ValueError:
        known = ", ".join(fault.value for fault in WebsiteFault)
        raise WebsiteFaultError(f"unknown website fault {name!r}; known: {known}") from None


def normalise_params(fault: WebsiteFault, params: Mapping[str, Any]) -> dict[str, Any]:
    """Fill the primary parameter's default and check values; numbers become floats."""
    result: dict[str, Any] = {}
    primary = _PRIMARY.get(fault)
    if primary is not None:
        result[primary[0]] = primary[1]
    for key, value in params.items():
        if primary is None or (key != primary[0] and key != "status"):
            raise WebsiteFaultError(f"{fault.value} takes no parameter {key!r}")
        if value is None or value is True or value == "":
            continue
        if key in _NUMERIC_PARAMS:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise WebsiteFaultError(f"{fault.value}: {key} needs a number, got {value!r}") from None
            if value < 0:
                raise WebsiteFaultError(f"{fault.value}: {key} must not be negative")
        result[key] = value
    if fault is WebsiteFault.DOWN and str(result["mode"]) not in _DOWN_MODES:
        raise WebsiteFaultError(f"down: mode must be one of {', '.join(sorted(_DOWN_MODES))}")
    if fault is WebsiteFault.MALFORMED_SITEMAP and result["kind"] not in {"broken", "bomb"}:
        raise WebsiteFaultError("malformed_sitemap: kind must be 'broken' or 'bomb'")
    return result


def parse_fault_spec(spec: object) -> dict[WebsiteFault, dict[str, Any]]:
    """``["stale=90", "slow"]`` or ``{stale = 90, down = "refused"}`` -> fault -> params."""
    faults: dict[WebsiteFault, dict[str, Any]] = {}
    if spec is None:
        return faults
    if isinstance(spec, str):
        spec = [spec]
    items: list[tuple[str, Any]]
    if isinstance(spec, Mapping):
        items = [(str(name), value) for name, value in spec.items() if value is not False]
    elif isinstance(spec, list | tuple):
        items = []
        for entry in spec:
            name, _, value = str(entry).partition("=")
            items.append((name, value or None))
    else:
        raise WebsiteFaultError(f"website faults must be a list or a table, got {type(spec).__name__}")
    for name, value in items:
        fault = parse_website_fault(name)
        if isinstance(value, Mapping):
            faults[fault] = normalise_params(fault, value)
        elif fault in _PRIMARY:
            faults[fault] = normalise_params(fault, {_PRIMARY[fault][0]: value})
        else:
            faults[fault] = normalise_params(fault, {})
    return faults


@dataclass(slots=True)
class SimulatedWebsite:
    """One site: its descriptor fields (id, url, opd, faults, scheme) and its live state."""

    index: int
    id: str
    opd: str
    scheme: str
    profile: SignalProfile
    host: str
    url_host: str
    port: int = 0
    redirects_home: bool = False
    faults: dict[WebsiteFault, dict[str, Any]] = field(default_factory=dict)
    content: SiteContent = field(default_factory=lambda: SiteContent(opd=""))
    published_extra: list[Post] = field(default_factory=list)
    cert_not_after: dt.datetime | None = None
    ssl_context: Any = None
    listening_context: Any = None
    connections: set[asyncio.StreamWriter] = field(default_factory=set)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.url_host}:{self.port}/"

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "opd": self.opd,
            "scheme": self.scheme,
            "signals": self.profile.value,
            "port": self.port,
            "faults": {fault.value: params for fault, params in sorted(self.faults.items())},
            "cert_not_after": self.cert_not_after.isoformat() if self.cert_not_after else None,
            "newest_post": (newest.published.isoformat() if (newest := self.content.newest()) else None),
        }


@dataclass(slots=True)
class _Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    # A body produced piecewise (huge pages); total size in bytes and a generator of chunks.
    stream: Callable[[], Any] | None = None
    stream_size: int = 0


_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 304: "Not Modified", 404: "Not Found",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def _site_identities(count: int) -> list[tuple[str, str]]:
    regencies = all_regencies()
    rows = []
    for index in range(count):
        slug, opd = _OPD_NAMES[index % len(_OPD_NAMES)]
        regency = regencies[(index // len(_OPD_NAMES)) % len(regencies)]
        site_id = f"{index:03d}-{slug}-{regency.slug}"[:64].rstrip("-")
        rows.append((site_id, f"{opd} {regency.display_name}"))
    return rows


class WebsiteFleet:
    """A running set of simulated websites; thread-safe control methods, served on its own loop."""

    def __init__(self, count: int, scenario: Mapping[str, Any] | None = None, host: str = "127.0.0.1") -> None:
        # Only the scenario's [websites] table: its other tables (camera faults) use other ids.
        section = (scenario or {}).get("websites")
        settings: dict[str, Any] = dict(section) if isinstance(section, Mapping) else {}
        self.host = host
        url_host = "127.0.0.1" if host in {"0.0.0.0", "", "::"} else host
        self.ca = SimulatorCA(Path(settings["ca_dir"]) if settings.get("ca_dir") else None)
        self.ca_file: Path = self.ca.ca_file
        fault_table: Mapping[str, Any] = settings.get("faults", {}) or {}
        profile_table: Mapping[str, Any] = settings.get("profiles", {}) or {}
        scheme_table: Mapping[str, Any] = settings.get("schemes", {}) or {}
        now = dt.datetime.now(dt.UTC)
        self.sites: list[SimulatedWebsite] = []
        for index, (site_id, opd) in enumerate(_site_identities(count)):
            profile = SignalProfile(_lookup(profile_table, index, site_id) or content.PROFILE_CYCLE[index % 6])
            scheme = _lookup(scheme_table, index, site_id) or ("https" if index % 4 < 2 else "http")
            if scheme not in {"http", "https"}:
                raise WebsiteFaultError(f"site {site_id}: scheme must be http or https, got {scheme!r}")
            site = SimulatedWebsite(
                index=index, id=site_id, opd=opd, scheme=scheme, profile=profile, host=host, url_host=url_host,
                redirects_home=index % 5 == 4, content=SiteContent(opd=opd),
                faults=parse_fault_spec(_lookup(fault_table, index, site_id)),
            )
            self._check_faults(site, site.faults)
            self._rebuild_posts(site, now)
            self.sites.append(site)
        self._by_id = {site.id: site for site in self.sites}
        self._connections: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._closing = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_forever, name="scc-sim-websites", daemon=True)
        self._thread.start()
        self._call(self._start_all())

    # --- control, from any thread ---------------------------------------------------------------

    def site(self, site_id: str) -> SimulatedWebsite:
        try:
            return self._by_id[site_id]
        except KeyError:
            raise WebsiteFaultError(f"no simulated website {site_id!r}") from None

    def describe(self) -> list[dict[str, Any]]:
        """One JSON-ready row per site, with the CA file a checker must trust for the HTTPS ones."""
        rows: list[dict[str, Any]] = self._call(self._describe())
        for row in rows:
            row["ca_file"] = str(self.ca_file) if row["scheme"] == "https" else None
        return rows

    def set_fault(self, site_id: str, fault: str | WebsiteFault, **params: Any) -> None:
        """Inject ``fault`` into one site; parameters as in the fault list, e.g. days=10, mode="refused"."""
        site = self.site(site_id)
        parsed = parse_website_fault(fault) if isinstance(fault, str) else fault
        normalised = normalise_params(parsed, params)
        self._check_faults(site, {parsed: normalised})
        self._call(self._apply(site, {**site.faults, parsed: normalised}))

    def clear(self, site_id: str, fault: str | WebsiteFault | None = None) -> None:
        """Remove one fault, or all of a site's faults."""
        site = self.site(site_id)
        remaining = {} if fault is None else {
            key: value for key, value in site.faults.items()
            if key is not (parse_website_fault(fault) if isinstance(fault, str) else fault)
        }
        self._call(self._apply(site, remaining))

    def publish(self, site_id: str, title: str = "Berita baru") -> None:
        """A new post, dated now: every freshness signal (and the page content) changes."""
        site = self.site(site_id)

        async def publish() -> None:
            now = dt.datetime.now(dt.UTC)
            site.published_extra.append(content.Post(f"baru-{len(site.published_extra) + 1}", title, now, now))
            self._rebuild_posts(site, now)

        self._call(publish())

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self._stop_all())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            self.ca.close()

    def __enter__(self) -> WebsiteFleet:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- inside the loop --------------------------------------------------------------------------

    def _call(self, coroutine: Awaitable[Any]) -> Any:
        future: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        return future.result(timeout=120)

    async def _describe(self) -> list[dict[str, Any]]:
        return [site.describe() for site in self.sites]

    @staticmethod
    def _check_faults(site: SimulatedWebsite, faults: Mapping[WebsiteFault, Any]) -> None:
        for fault in faults:
            if fault in _CERT_FAULTS and site.scheme != "https":
                raise WebsiteFaultError(f"{fault.value} needs an HTTPS site; {site.id} is {site.scheme}")

    def _rebuild_posts(self, site: SimulatedWebsite, now: dt.datetime) -> None:
        stale = site.faults.get(WebsiteFault.STALE)
        newest_age = dt.timedelta(days=float(stale["days"])) if stale else FRESH_NEWEST_AGE
        posts = content.make_posts(site.index, now, newest_age)
        if not stale:
            posts.extend(site.published_extra)
        future = site.faults.get(WebsiteFault.FUTURE_DATES)
        if future:
            moment = now + dt.timedelta(days=float(future["days"]))
            posts.append(content.Post("jadwal-mendatang", "Jadwal kegiatan tahun depan", moment, moment))
        site.content.posts = posts

    async def _apply(self, site: SimulatedWebsite, faults: dict[WebsiteFault, dict[str, Any]]) -> None:
        before = site.faults
        site.faults = faults
        # A client's pooled keep-alive connection would otherwise hide the new fault from it.
        for writer in list(site.connections):
            writer.close()
        self._rebuild_posts(site, dt.datetime.now(dt.UTC))
        if site.scheme == "https" and {f: before.get(f) for f in _CERT_FAULTS} != {f: faults.get(f) for f in _CERT_FAULTS}:
            self._issue_certificate(site)
        refused_before = _down_mode(before) == "refused"
        refused_now = _down_mode(faults) == "refused"
        if refused_now and not refused_before and site.server is not None:
            site.server.close()
            site.server = None
        elif refused_before and not refused_now:
            await self._listen(site)

    def _issue_certificate(self, site: SimulatedWebsite) -> None:
        now = dt.datetime.now(dt.UTC)
        not_before, not_after = now - dt.timedelta(days=30), now + dt.timedelta(days=DEFAULT_LEAF_DAYS)
        if expiring := site.faults.get(WebsiteFault.CERT_EXPIRING):
            not_after = now + dt.timedelta(days=float(expiring["days"]), hours=1)
        if expired := site.faults.get(WebsiteFault.CERT_EXPIRED):
            not_after = now - dt.timedelta(days=float(expired["days"]))
            not_before = not_after - dt.timedelta(days=90)
        hosts = [site.url_host, "127.0.0.1", "localhost"]
        context, site.cert_not_after = self.ca.server_context(
            site.id, hosts, not_before=not_before, not_after=not_after,
            self_signed=WebsiteFault.CERT_UNTRUSTED in site.faults,
        )
        site.ssl_context = context
        if site.listening_context is None:
            # The listening context never changes; each handshake switches to the site's current
            # one, so a certificate fault takes effect without rebinding the port.
            def use_current(ssl_object: Any, _server_name: str | None, _context: Any) -> None:
                ssl_object.context = site.ssl_context

            context.sni_callback = use_current
            site.listening_context = context

    async def _start_all(self) -> None:
        for site in self.sites:
            if site.scheme == "https":
                self._issue_certificate(site)
        await asyncio.gather(*(self._listen(site) for site in self.sites))
        for site in self.sites:
            if _down_mode(site.faults) == "refused" and site.server is not None:
                site.server.close()
                site.server = None

    async def _listen(self, site: SimulatedWebsite) -> None:
        site.server = await asyncio.start_server(
            lambda reader, writer: self._serve(site, reader, writer),
            self.host or None, site.port, reuse_address=True,
            **({"ssl": site.listening_context, "ssl_handshake_timeout": 10} if site.scheme == "https" else {}),
        )
        site.port = site.server.sockets[0].getsockname()[1]

    async def _stop_all(self) -> None:
        self._closing.set()
        for site in self.sites:
            if site.server is not None:
                site.server.close()
        for writer in list(self._connections):
            writer.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, site: SimulatedWebsite, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        site.connections.add(writer)
        try:
            while not self._closing.is_set():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
                    return
                method, target, headers = _parse_head(head)
                if method is None:
                    await _write(writer, _Response(400, [("Content-Type", "text/plain")], b"bad request\n"), False)
                    return
                keep_alive = headers.get("connection", "").lower() != "close"
                if _down_mode(site.faults) == "timeout":
                    await self._closing.wait()  # accept, read, never answer: a hung application server
                    return
                if slow := site.faults.get(WebsiteFault.SLOW):
                    await asyncio.sleep(float(slow["seconds"]))
                response = self._respond(site, target)
                await _write(writer, response, method == "HEAD", keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, OSError, asyncio.CancelledError):
            return
        finally:
            self._connections.discard(writer)
            site.connections.discard(writer)
            writer.close()

    def _respond(self, site: SimulatedWebsite, target: str) -> _Response:
        now = dt.datetime.now(dt.UTC)
        split = urlsplit(target)
        path, query = split.path or "/", parse_qs(split.query)
        base = site.url
        faults = site.faults
        style = DateStyle(naive=WebsiteFault.NAIVE_DATES in faults)
        mode = _down_mode(faults)
        if mode == "5xx":
            status = int(faults[WebsiteFault.DOWN].get("status", 503))
            return _Response(status if 500 <= status <= 599 else 503, _html_type(), b"<h1>Service Unavailable</h1>")
        if mode == "4xx":
            return _Response(404, _html_type(), b"<h1>Not Found</h1>")
        if maintenance := faults.get(WebsiteFault.MAINTENANCE):
            return _Response(503, [*_html_type(), ("Retry-After", str(int(float(maintenance["seconds"]))))],
                             content.MAINTENANCE_PAGE)
        if WebsiteFault.REDIRECT_LOOP in faults and path in {"/", "/beranda/"}:
            return _Response(302, [("Location", f"{base}beranda/" if path == "/" else base)])
        if path == "/" and site.redirects_home:
            return _Response(301, [("Location", f"{base}beranda/")])
        if path == "/" or (path == "/beranda/" and site.redirects_home):
            return self._home(site, base, now)
        profile = site.profile
        if path == "/robots.txt":
            sitemap = {SignalProfile.SITEMAP: "sitemap.xml", SignalProfile.WORDPRESS: "wp-sitemap.xml"}.get(profile)
            return _Response(200, [("Content-Type", "text/plain")], content.robots(base, sitemap))
        if profile is SignalProfile.WORDPRESS and path.startswith("/wp-json"):
            if WebsiteFault.MALFORMED_API in faults:
                return _Response(200, _html_type(), content.MALFORMED_JSON)
            if path.rstrip("/") == "/wp-json":
                return _Response(200, _json_type(), content.wp_index(base))
            if path.rstrip("/") == "/wp-json/wp/v2/posts":
                per_page = _int(query.get("per_page", ["10"])[0], 10)
                return _Response(200, _json_type(), content.wp_posts(site.content, base, per_page, style))
        feed_path = {SignalProfile.WORDPRESS: "/feed/", SignalProfile.RSS: "/feed/", SignalProfile.ATOM: "/atom.xml"}
        if path == feed_path.get(profile):
            if huge := faults.get(WebsiteFault.HUGE_FEED):
                return _huge_xml("feed", float(huge["mb"]))
            if WebsiteFault.MALFORMED_FEED in faults:
                return _Response(200, [("Content-Type", "application/rss+xml")], content.MALFORMED_XML)
            if profile is SignalProfile.ATOM:
                return _Response(200, [("Content-Type", "application/atom+xml")],
                                 content.atom_feed(site.content, base, style))
            return _Response(200, [("Content-Type", "application/rss+xml; charset=UTF-8")],
                             content.rss_feed(site.content, base, style))
        sitemap_paths = {"/sitemap.xml", "/wp-sitemap.xml", "/sitemap-posts.xml", "/sitemap-pages.xml"}
        if profile in {SignalProfile.SITEMAP, SignalProfile.WORDPRESS} and path in sitemap_paths:
            if huge := faults.get(WebsiteFault.HUGE_SITEMAP):
                return _huge_xml("sitemap", float(huge["mb"]))
            if malformed := faults.get(WebsiteFault.MALFORMED_SITEMAP):
                body = content.XML_BOMB if malformed["kind"] == "bomb" else content.MALFORMED_XML
                return _Response(200, _xml_type(), body)
            if path in {"/sitemap.xml", "/wp-sitemap.xml"}:
                return _Response(200, _xml_type(), content.sitemap_index(site.content, base, style))
            return _Response(200, _xml_type(), content.sitemap_urls(
                site.content, base, style, posts=path == "/sitemap-posts.xml"))
        return _Response(404, _html_type(), b"<h1>Halaman tidak ditemukan</h1>")

    def _home(self, site: SimulatedWebsite, base: str, now: dt.datetime) -> _Response:
        faults = site.faults
        if WebsiteFault.NOT_HTML in faults:
            return _Response(200, [("Content-Type", "application/pdf")], b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
        if bomb := faults.get(WebsiteFault.GZIP_BOMB):
            return _Response(200, [*_html_type(), ("Content-Encoding", "gzip")], content.gzip_bomb(float(bomb["mb"])))
        if huge := faults.get(WebsiteFault.HUGE):
            size = int(float(huge["mb"]) * 1024 * 1024)
            filler = b"<p>" + b"Pengumuman " * 5000 + b"</p>\n"

            def chunks() -> Any:
                yield b"<!DOCTYPE html><html><body>"
                while True:
                    yield filler

            return _Response(200, _html_type(), stream=chunks, stream_size=size)
        body = content.home_page(site.content, base, site.profile, now)
        headers = _html_type()
        if site.profile is SignalProfile.WORDPRESS:
            headers.append(("Link", f'<{base}wp-json/>; rel="https://api.w.org/"'))
        if site.profile is SignalProfile.LAST_MODIFIED and (newest := site.content.newest()):
            headers.append(("Last-Modified", content.http_date(newest.modified)))
            headers.append(("ETag", '"' + hashlib.sha1(newest.slug.encode()).hexdigest()[:16] + '"'))
        return _Response(200, headers, body)


def _down_mode(faults: Mapping[WebsiteFault, Mapping[str, Any]]) -> str | None:
    down = faults.get(WebsiteFault.DOWN)
    return str(down["mode"]) if down else None


def _lookup(table: Mapping[str, Any], index: int, site_id: str) -> Any:
    for key in (site_id, str(index)):
        if key in table:
            return table[key]
    return None


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _html_type() -> list[tuple[str, str]]:
    return [("Content-Type", "text/html; charset=UTF-8")]


def _json_type() -> list[tuple[str, str]]:
    return [("Content-Type", "application/json; charset=UTF-8")]


def _xml_type() -> list[tuple[str, str]]:
    return [("Content-Type", "application/xml; charset=UTF-8")]


def _huge_xml(kind: str, megabytes: float) -> _Response:
    size = int(megabytes * 1024 * 1024)

    def chunks() -> Any:
        yield content.huge_xml_prefix(kind)
        number = 0
        while True:
            yield b"".join(content.huge_xml_row(kind, number + row) for row in range(200))
            number += 200

    content_type = "application/xml" if kind == "sitemap" else "application/rss+xml"
    return _Response(200, [("Content-Type", content_type)], stream=chunks, stream_size=size)


def _parse_head(head: bytes) -> tuple[str | None, str, dict[str, str]]:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        return None, "", {}
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return method.upper(), target, headers


async def _write(writer: asyncio.StreamWriter, response: _Response, head_only: bool, keep_alive: bool = True) -> None:
    length = response.stream_size if response.stream is not None else len(response.body)
    lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}",
             "Server: nginx/1.18.0", f"Date: {content.http_date(dt.datetime.now(dt.UTC))}",
             f"Content-Length: {length}", f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if head_only:
        await writer.drain()
        return
    if response.stream is None:
        writer.write(response.body)
        await writer.drain()
        return
    remaining = length
    for chunk in response.stream():
        piece = chunk[:remaining]
        writer.write(piece)
        await writer.drain()  # a client that stops reading stops the producer here
        remaining -= len(piece)
        if remaining <= 0:
            break


def start_websites(count: int, scenario: Mapping[str, Any] | None = None, host: str = "127.0.0.1") -> WebsiteFleet:
    """Start ``count`` simulated OPD websites on free ports; returns once all are listening."""
    return WebsiteFleet(count, scenario or {}, host)
