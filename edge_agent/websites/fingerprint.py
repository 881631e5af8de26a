"""A page's content fingerprint: its text blocks with everything that changes by itself taken out.

What changes on every request or every day without anyone updating the site is removed before
hashing: scripts, forms and tokens, clocks and dates (digits, and day and month names in Indonesian
and English), "3 jam yang lalu", visitor counters, and the parts themes rotate or tick (carousels,
sliders, marquees, tickers, calendars), found by tag and by class/id. What is left is split into
text blocks; a later change counts as new content only when a block appears that was never seen on
this page before (``FingerprintStore``), so a banner that cycles through captions, a random-posts
widget or a reordered list is cosmetic.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import lxml.html
from lxml import etree

# Only this much of a page is fingerprinted: enough for any home page, bounded for a huge one.
FINGERPRINT_BYTES = 2_000_000

_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "marquee", "time", "form", "input",
              "select", "textarea", "button", "canvas", "video", "audio", "object", "head")
# Class or id words of the parts themes change by themselves (and Indonesian theme names for them).
_SELF_CHANGING = re.compile(
    r"carousel|slider|slick|swiper|owl-|marquee|ticker|running-?text|clock|\bjam\b|date|tanggal|waktu|"
    r"calendar|kalender|counter|visitor|pengunjung|statisti|hit-?count|online|weather|cuaca|random|"
    r"banner|popup|modal|cookie|countdown|prayer|jadwal-?sholat|adzan",
    re.IGNORECASE,
)
_BLOCK_TAGS = frozenset((
    "p", "div", "section", "article", "aside", "header", "footer", "main", "nav", "li", "ul", "ol", "dl", "dt",
    "dd", "h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "td", "th", "blockquote", "pre", "figure",
    "figcaption", "br", "hr", "address", "details", "summary",
))
_DAYS = ("senin selasa rabu kamis jumat jum'at jum\u2019at sabtu minggu ahad "
         "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun")
_MONTHS = ("januari februari pebruari maret april mei juni juli agustus september oktober nopember november "
           "desember jan feb mar apr jun jul agu agt ags agst aug sep sept okt oct nop nov des dec "
           "january february march may june july august october december")
_CLOCK_WORDS = "wib wita wit gmt utc am pm pukul"
_DATE_WORDS = re.compile(
    r"(?<![\w'\u2019])(?:" + "|".join(sorted({re.escape(w) for w in f"{_DAYS} {_MONTHS} {_CLOCK_WORDS}".split()},
                                        key=len, reverse=True)) + r")\.?(?![\w'\u2019])",
    re.IGNORECASE,
)
_UNITS = (r"detik|menit|jam|hari|minggu|pekan|bulan|tahun|"
          r"secs?|seconds?|mins?|minutes?|hours?|hrs?|days?|weeks?|months?|years?")
_RELATIVE = re.compile(
    rf"\b(?:\d+|an?|satu|se)\s*(?:{_UNITS})\s*(?:yang\s+)?(?:lalu|lampau|ago)\b"
    r"|\b(?:baru\s+saja|hari\s+ini|kemarin|just\s+now|yesterday|today)\b",
    re.IGNORECASE,
)
# Tokens and ids written into the text: long runs of letters and digits mixed.
_TOKENS = re.compile(r"\b(?=[A-Za-z_-]*\d)(?=\d*[A-Za-z])[A-Za-z0-9_-]{16,}\b")
_DIGITS = re.compile(r"\d+")
_PUNCTUATION = re.compile(r"[^\w\s]+|_")
_SPACE = re.compile(r"\s+")
# A one-word block is furniture (a label, a menu item, a button), not news.
_CONTENT_WORDS = 2


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The page's digest and the short hashes of its content blocks (2+ words)."""

    digest: str
    blocks: frozenset[str]


def normalise_text(text: str) -> str:
    """Lower-case text without dates, clocks, relative times, tokens, digits or punctuation."""
    text = _RELATIVE.sub(" ", text)
    text = _TOKENS.sub(" ", text)
    text = _DATE_WORDS.sub(" ", text)
    text = _DIGITS.sub(" ", text)
    text = _PUNCTUATION.sub(" ", text)
    return _SPACE.sub(" ", text).strip().lower()


def _self_changing(element: etree._Element) -> bool:
    names = f"{element.get('class', '')} {element.get('id', '')}"
    return bool(names.strip()) and _SELF_CHANGING.search(names) is not None


def text_blocks(body: bytes) -> list[str]:
    """The page's visible text, block by block, normalised; self-changing parts left out."""
    if not body.strip():
        return []
    try:
        root = lxml.html.document_fromstring(body[:FINGERPRINT_BYTES])
    except (etree.ParserError, ValueError):
        return []
    title = root.findtext(".//title") or ""
    doomed = [element for element in root.iter()
              if not isinstance(element.tag, str) or element.tag in _DROP_TAGS or _self_changing(element)]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()  # keeps the tail text, which belongs to the parent
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag in _BLOCK_TAGS:
            element.text = "\n" + (element.text or "")
            element.tail = "\n" + (element.tail or "")
    blocks = (normalise_text(line) for line in [title, *root.text_content().split("\n")])
    return [block for block in blocks if block]


def content_fingerprint(body: bytes) -> Fingerprint:
    """Digest of the page's distinct blocks (order-free: a shuffled widget is no change) and block hashes."""
    blocks = text_blocks(body)
    distinct = sorted(set(blocks))
    digest = hashlib.sha256("\n".join(distinct).encode()).hexdigest()
    content = frozenset(hashlib.sha256(block.encode()).hexdigest()[:16] for block in distinct
                        if len(block.split()) >= _CONTENT_WORDS)
    return Fingerprint(digest, content)
