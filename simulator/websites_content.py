"""What a simulated OPD website serves: home page, WordPress REST posts, RSS/Atom feeds, sitemaps."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import html
import json
import secrets
from dataclasses import dataclass, field
from email.utils import format_datetime
from enum import StrEnum
from xml.sax.saxutils import escape

WIB = dt.timezone(dt.timedelta(hours=7), "WIB")
_DAY_NAMES = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")


class SignalProfile(StrEnum):
    """Which freshness signals a site offers; real OPD sites vary exactly like this."""

    WORDPRESS = "wordpress"  # REST API + RSS + wp-sitemap, no Last-Modified (WordPress default)
    RSS = "rss"  # an RSS 2.0 feed linked from the home page, nothing else
    ATOM = "atom"  # an Atom feed linked from the home page, nothing else
    SITEMAP = "sitemap"  # robots.txt -> sitemap index -> sitemap with lastmod
    LAST_MODIFIED = "last_modified"  # a static site whose server sends Last-Modified and ETag
    NONE = "none"  # no signal at all: only the page content can tell


PROFILE_CYCLE: tuple[SignalProfile, ...] = tuple(SignalProfile)


@dataclass(slots=True)
class Post:
    """One news item on an OPD site."""

    slug: str
    title: str
    published: dt.datetime  # aware, UTC
    modified: dt.datetime


@dataclass(slots=True)
class DateStyle:
    """How dates are written: the faults 'naive_dates' and 'future_dates' change this."""

    naive: bool = False


@dataclass(slots=True)
class SiteContent:
    """The news of one site and how to render it; pure functions of the posts and a base URL."""

    opd: str
    posts: list[Post] = field(default_factory=list)
    visitors: int = 0

    def newest(self) -> Post | None:
        return max(self.posts, key=lambda post: post.published, default=None)

    def publish(self, title: str, when: dt.datetime) -> Post:
        post = Post(slug=f"berita-{len(self.posts) + 1}", title=title, published=when, modified=when)
        self.posts.append(post)
        return post

    def ordered(self) -> list[Post]:
        return sorted(self.posts, key=lambda post: post.published, reverse=True)


def make_posts(index: int, now: dt.datetime, newest_age: dt.timedelta, count: int = 8) -> list[Post]:
    """``count`` posts, the newest ``newest_age`` old, spaced a few days apart."""
    topics = ("Rapat koordinasi", "Sosialisasi program", "Pelayanan publik", "Kunjungan kerja",
              "Pengumuman seleksi", "Laporan kinerja", "Bakti sosial", "Penyaluran bantuan")
    posts = []
    for number in range(count):
        published = now - newest_age - dt.timedelta(days=3 * number, hours=number)
        posts.append(
            Post(
                slug=f"berita-{index}-{count - number}",
                title=f"{topics[(index + number) % len(topics)]} {count - number}",
                published=published,
                modified=published + dt.timedelta(hours=2),
            )
        )
    return posts


def _w3c(moment: dt.datetime, style: DateStyle) -> str:
    local = moment.astimezone(WIB)
    if style.naive:
        return local.replace(tzinfo=None).isoformat(timespec="seconds")
    return local.isoformat(timespec="seconds")


def _rfc822(moment: dt.datetime, style: DateStyle) -> str:
    local = moment.astimezone(WIB)
    text = format_datetime(local)  # "Fri, 28 Nov 2025 16:14:03 +0700"
    return text.rsplit(" ", 1)[0] if style.naive else text


def http_date(moment: dt.datetime) -> str:
    return format_datetime(moment.astimezone(dt.UTC), usegmt=True)


def home_page(content: SiteContent, base: str, profile: SignalProfile, now: dt.datetime) -> bytes:
    """The home page, with the per-request noise real CMSs add (counter, clock, CSRF token, nonce)."""
    content.visitors += 1
    head_links = []
    if profile is SignalProfile.WORDPRESS:
        head_links.append(f'<link rel="https://api.w.org/" href="{base}wp-json/" />')
        head_links.append(f'<link rel="alternate" type="application/rss+xml" title="Feed" href="{base}feed/" />')
    elif profile is SignalProfile.RSS:
        head_links.append(f'<link rel="alternate" type="application/rss+xml" title="Berita" href="{base}feed/" />')
    elif profile is SignalProfile.ATOM:
        head_links.append(
            f'<link rel="alternate" type="application/atom+xml" title="Berita" href="{base}atom.xml" />'
        )
    local_now = now.astimezone(WIB)
    clock = f"{_DAY_NAMES[local_now.weekday()]}, {local_now:%d-%m-%Y %H:%M:%S} WIB"
    items = "\n".join(
        f'<li><a href="{base}{post.slug}/">{html.escape(post.title)}</a></li>' for post in content.ordered()[:5]
    )
    nonce = secrets.token_hex(8)
    page = f"""<!DOCTYPE html>
<html lang="id"><head><meta charset="utf-8"><title>{html.escape(content.opd)}</title>
{chr(10).join(head_links)}
<script nonce="{nonce}">var csrf = "{secrets.token_hex(16)}"; var t = {now.timestamp():.0f};</script>
<style>body {{ font-family: sans-serif; }}</style></head>
<body><header><h1>{html.escape(content.opd)}</h1><p class="clock">{clock}</p></header>
<main><h2>Berita Terbaru</h2><ul>
{items}
</ul></main>
<form><input type="hidden" name="_token" value="{secrets.token_hex(16)}"></form>
<footer><p>Pengunjung hari ini: {content.visitors}</p><!-- generated in {secrets.randbelow(90) + 10} ms --></footer>
</body></html>
"""
    return page.encode()


def wp_posts(content: SiteContent, base: str, per_page: int, style: DateStyle) -> bytes:
    """/wp-json/wp/v2/posts: newest first; ``date`` is site-local and naive, ``date_gmt`` naive UTC."""
    rows = []
    for post in content.ordered()[: max(1, min(per_page, 100))]:
        row: dict[str, object] = {
            "id": abs(hash(post.slug)) % 100000,
            "date": post.published.astimezone(WIB).replace(tzinfo=None).isoformat(timespec="seconds"),
            "modified": post.modified.astimezone(WIB).replace(tzinfo=None).isoformat(timespec="seconds"),
            "slug": post.slug,
            "status": "publish",
            "type": "post",
            "link": f"{base}{post.slug}/",
            "title": {"rendered": html.escape(post.title)},
        }
        if not style.naive:
            row["date_gmt"] = post.published.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
            row["modified_gmt"] = (
                post.modified.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")
            )
        rows.append(row)
    return json.dumps(rows).encode()


def wp_index(base: str) -> bytes:
    return json.dumps({"name": "OPD", "url": base.rstrip("/"), "namespaces": ["wp/v2"]}).encode()


def rss_feed(content: SiteContent, base: str, style: DateStyle) -> bytes:
    items = "".join(
        f"<item><title>{escape(post.title)}</title><link>{base}{post.slug}/</link>"
        f"<guid>{base}{post.slug}/</guid><pubDate>{_rfc822(post.published, style)}</pubDate></item>"
        for post in content.ordered()[:10]
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(content.opd)}</title><link>{base}</link><description>Berita</description>"
        f"{items}</channel></rss>"
    ).encode()


def atom_feed(content: SiteContent, base: str, style: DateStyle) -> bytes:
    ordered = content.ordered()[:10]
    updated = _w3c(ordered[0].modified, style) if ordered else _w3c(dt.datetime(2020, 1, 1, tzinfo=dt.UTC), style)
    entries = "".join(
        f"<entry><title>{escape(post.title)}</title><link href=\"{base}{post.slug}/\"/>"
        f"<id>{base}{post.slug}/</id><updated>{_w3c(post.modified, style)}</updated>"
        f"<published>{_w3c(post.published, style)}</published></entry>"
        for post in ordered
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(content.opd)}</title><id>{base}</id><updated>{updated}</updated>"
        f"{entries}</feed>"
    ).encode()


def robots(base: str, sitemap_path: str | None) -> bytes:
    lines = ["User-agent: *", "Disallow: /wp-admin/"]
    if sitemap_path:
        lines.append(f"Sitemap: {base}{sitemap_path}")
    return ("\n".join(lines) + "\n").encode()


def sitemap_index(content: SiteContent, base: str, style: DateStyle) -> bytes:
    newest = content.newest()
    lastmod = f"<lastmod>{_w3c(newest.modified, style)}</lastmod>" if newest else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}sitemap-pages.xml</loc><lastmod>2021-03-01</lastmod></sitemap>"
        f"<sitemap><loc>{base}sitemap-posts.xml</loc>{lastmod}</sitemap>"
        "</sitemapindex>"
    ).encode()


def sitemap_urls(content: SiteContent, base: str, style: DateStyle, *, posts: bool) -> bytes:
    if posts:
        rows = [(f"{base}{post.slug}/", _w3c(post.modified, style)) for post in content.ordered()]
    else:
        rows = [(f"{base}profil/", "2021-03-01"), (f"{base}kontak/", "2021-03-01")]
    urls = "".join(f"<url><loc>{loc}</loc><lastmod>{lastmod}</lastmod></url>" for loc, lastmod in rows)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    ).encode()


def huge_xml_prefix(kind: str) -> bytes:
    """The start of a feed or sitemap that goes on for megabytes (see the 'huge_*' faults)."""
    if kind == "sitemap":
        return b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    return b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'


def huge_xml_row(kind: str, number: int) -> bytes:
    if kind == "sitemap":
        return f"<url><loc>http://x/{number}</loc><lastmod>2024-01-01</lastmod></url>".encode()
    return f"<item><title>{number}</title><pubDate>Mon, 01 Jan 2024 00:00:00 +0700</pubDate></item>".encode()


MALFORMED_XML = b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>Rapat</titel><pubDate>kemarin'
# An entity-expansion bomb: a safe parser refuses it instead of expanding it.
XML_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&lol3;</loc></url></urlset>'
)
# WordPress core's page while a .maintenance file exists (wp_maintenance(): 503, Retry-After: 600).
MAINTENANCE_PAGE = (b'<!DOCTYPE html><html lang="id-ID"><head><meta charset="utf-8"><title>Maintenance</title></head>'
                    b'<body id="error-page"><div class="wp-die-message">Briefly unavailable for scheduled '
                    b"maintenance. Check back in a minute.</div></body></html>")
_BOMB_MEMBER_MIB = 16


@functools.cache
def _bomb_member() -> bytes:
    return gzip.compress(b"\0" * (_BOMB_MEMBER_MIB * 1024 * 1024), compresslevel=9)


def gzip_bomb(mebibytes: float) -> bytes:
    """Concatenated gzip members of zeros (~1 KB per MiB on the wire) inflating to ``mebibytes`` MiB."""
    return _bomb_member() * max(1, round(mebibytes / _BOMB_MEMBER_MIB))


MALFORMED_JSON = b'<html><body>Error establishing a database connection</body></html>'
