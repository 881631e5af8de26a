"""The content fingerprint: what changes by itself is ignored, new text is not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edge_agent.websites.fingerprint import content_fingerprint, normalise_text, text_blocks
from edge_agent.websites.state import FingerprintStore
from tests.edge_agent.websites.replay import CORPUS

THEMES = CORPUS / "themes"


@pytest.mark.parametrize(
    ("one", "two"),
    [
        ("Minggu, 6 Desember 2026", "Senin, 7 Desember 2026"),
        ("Jum'at, 04 Des 2026 | 14:05 WIB", "Sabtu, 05 Des 2026 | 09:59 WIB"),
        ("Sunday, December 6, 2026", "Monday, December 7, 2026"),
        ("Mon, 7 Dec 2026 8:01 pm", "Tue, 8 Dec 2026 7:15 am"),
        ("Diposting 3 jam yang lalu", "Diposting 2 hari yang lalu"),
        ("posted 5 minutes ago", "posted an hour ago"),
        ("Diperbarui hari ini", "Diperbarui kemarin"),
        ("Pengunjung: 1.204", "Pengunjung: 1.377"),
        ("token 9f8a7c6b5d4e3f2a1b0c", "token 0a1b2c3d4e5f60718293"),
    ],
)
def test_text_that_changes_by_itself_normalises_alike(one: str, two: str) -> None:
    assert normalise_text(one) == normalise_text(two)


def test_real_theme_markup_of_two_days_has_one_fingerprint() -> None:
    day6 = (THEMES / "colormag-id-2026-12-06.html").read_bytes()
    day7 = (THEMES / "colormag-id-2026-12-07.html").read_bytes()
    assert day6 != day7
    assert content_fingerprint(day6) == content_fingerprint(day7)
    blocks = text_blocks(day6)
    assert "rapat koordinasi percepatan penurunan stunting" in blocks
    assert not any("desember" in block or "minggu" in block or "pengunjung" in block for block in blocks)


def test_rotating_and_ticking_parts_are_left_out() -> None:
    page = ("<html><body><div class='owl-carousel'><div class='item'>Selamat Datang di Website Resmi</div></div>"
            "<marquee>Selamat Hari Guru Nasional</marquee><div id='jam-digital'>14:05:01</div>"
            "<form><input type='hidden' name='_token' value='{t}'><button>Cari</button></form>"
            "<main><h2>Rapat koordinasi daerah</h2></main></body></html>")
    one = content_fingerprint(page.format(t="abc123def456ghi789").encode())
    two = content_fingerprint(page.replace("Selamat Datang di Website Resmi", "Layanan Publik Terpadu")
                              .replace("Hari Guru", "Hari Pahlawan").format(t="zzz999yyy888").encode())
    assert one == two


def test_only_never_seen_text_is_a_change(tmp_path: Path) -> None:
    store = FingerprintStore(tmp_path / "s.db")
    moment = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    banner_a = b"<html><body><h2>Rapat koordinasi daerah</h2><p>Program unggulan kabupaten</p></body></html>"
    banner_b = b"<html><body><h2>Rapat koordinasi daerah</h2><p>Layanan publik terpadu</p></body></html>"
    news = b"<html><body><h2>Rapat koordinasi daerah</h2><h2>Pelatihan admin website</h2></body></html>"
    assert store.observe("s", "u", content_fingerprint(banner_a), moment).new
    first_b = store.observe("s", "u", content_fingerprint(banner_b), moment + dt.timedelta(hours=1))
    assert first_b.changed_at == moment + dt.timedelta(hours=1)  # never seen before: counts
    back = store.observe("s", "u", content_fingerprint(banner_a), moment + dt.timedelta(hours=2))
    again = store.observe("s", "u", content_fingerprint(banner_b), moment + dt.timedelta(hours=3))
    assert back.cosmetic and again.cosmetic and again.changed_at == moment + dt.timedelta(hours=1)
    fresh = store.observe("s", "u", content_fingerprint(news), moment + dt.timedelta(hours=4))
    assert not fresh.cosmetic and fresh.changed_at == moment + dt.timedelta(hours=4)
    store.close()


@pytest.mark.parametrize("body", [b"", b"\x00" * 1000, b"<<<>>>", b"<html>" * 10000, "ü€".encode() * 100])
def test_odd_pages_never_raise(body: bytes) -> None:
    assert len(content_fingerprint(body).digest) == 64
