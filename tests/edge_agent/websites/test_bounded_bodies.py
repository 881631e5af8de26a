"""Every body read from a website is bounded, compressed ones included: too large is a finding, not an OOM."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edge_agent.websites.body import CorruptBody, UnsupportedEncoding, read_body
from tests.edge_agent.websites.replay import Recorded, ReplaySite, serving

BOMB_BYTES = 1024 * 1024 * 1024  # inflates to 1 GiB


def _bomb() -> bytes:
    """1 GiB of zeros as concatenated gzip members (~1 MB on the wire; any gzip reader takes members)."""
    member = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    return member * (BOMB_BYTES // (64 * 1024 * 1024))


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _read(data: bytes, encoding: str, cap: int) -> tuple[bytes, bool]:
    body = asyncio.run(read_body(_chunks(data), encoding, cap))
    return body.data, body.truncated


def test_every_encoding_within_the_cap() -> None:
    text = b"<p>Berita daerah</p>" * 1000
    assert _read(text, "", 10**6) == (text, False)
    assert _read(gzip.compress(text), "gzip", 10**6) == (text, False)
    assert _read(zlib.compress(text), "deflate", 10**6) == (text, False)
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    assert _read(raw.compress(text) + raw.flush(), "deflate", 10**6) == (text, False)  # raw deflate, as IIS sends
    assert _read(gzip.compress(text[:5000]) + gzip.compress(text[5000:]), "gzip", 10**6) == (text, False)
    assert _read(gzip.compress(text), "gzip", 1000) == (text[:1000], True)
    # Real pages compress well but nowhere near 100:1; zeros do, and stop early, far below the cap.
    page = b"".join(b"<p>Berita %d: rapat koordinasi daerah</p>" % number for number in range(60_000))
    assert _read(gzip.compress(page), "gzip", 5_000_000) == (page[:5_000_000], len(page) > 5_000_000)
    zeros = asyncio.run(read_body(_chunks(gzip.compress(b"\0" * 50_000_000)), "gzip", 5_000_000))
    assert zeros.bomb and zeros.truncated and len(zeros.data) < 2_000_000
    with pytest.raises(UnsupportedEncoding):
        _read(text, "br", 10**6)
    with pytest.raises(CorruptBody):
        _read(b"\x1f\x8b not gzip at all" * 10, "gzip", 10**6)


CHILD = """
import asyncio, json, resource, sys
from pathlib import Path
from edge_agent.websites import WebsiteChecker, WebsiteTarget

async def main():
    async with WebsiteChecker(Path(sys.argv[2])) as checker:
        return await checker.check(WebsiteTarget(id="bomb", url=sys.argv[1], timeout_s=20, max_bytes=5_000_000))

findings = asyncio.run(main())
feed = findings.check("freshness.feed")
print(json.dumps({"reason": findings.reason, "http": findings.check("http").reason,
                  "http_message": findings.check("http").message,
                  "freshness": findings.check("freshness").reason,
                  "feed": feed.reason if feed else None, "feed_message": feed.message if feed else None,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _checked_in_child(url: str, state: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", CHILD, url, str(state)], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_gzip_bombs_in_page_and_feed_cost_the_cap_not_a_gigabyte(tmp_path: Path) -> None:
    bomb = _bomb()
    gzipped = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    feed_link = b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed/"></head><body>x</body></html>'
    page_bomb = ReplaySite({"/": Recorded(bomb, 200, gzipped)})
    feed_bomb = ReplaySite({"/": Recorded(feed_link),
                            "/feed/": Recorded(bomb, 200, {**gzipped, "Content-Type": "application/rss+xml"})})
    # The yardstick: a plain page of the cap's size, which the checker may read whole.
    at_cap = feed_link.replace(b"<body>x", b"<body>" + b"<p>Pengumuman</p>" * 290_000)
    calm = ReplaySite({"/": Recorded(at_cap), "/feed/": Recorded(b"<rss><channel><item/></channel></rss>",
                                                                 200, {"Content-Type": "application/rss+xml"})})
    with serving(page_bomb, feed_bomb, calm):
        baseline = _checked_in_child(calm.base, tmp_path / "c.db")
        page = _checked_in_child(page_bomb.base, tmp_path / "p.db")
        feed = _checked_in_child(feed_bomb.base, tmp_path / "f.db")
    assert (page["reason"], page["http"]) == ("too_large", "too_large")
    assert "decompression bomb" in str(page["http_message"])
    assert page["freshness"] == "not_reached"  # nothing to discover or fingerprint in a bomb
    assert feed["feed"] == "too_large" and "decompression bomb" in str(feed["feed_message"])
    for result in (page, feed):
        # A whole inflate would be 1 GiB: the bomb costs what a plain page of the cap's size costs.
        assert float(result["rss_mb"]) - float(baseline["rss_mb"]) < 25, (result, baseline)
