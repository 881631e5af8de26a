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
FINGERPRINT_BYTES = 1_000_000

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
_DAYS = ("senin selasa rabu kamis jumat jum'at sabtu minggu ahad "
         "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun")
_MONTHS = ("januari februari pebruari maret april mei juni juli agustus september oktober nopember november "
           "desember jan feb mar apr jun jul agu agt ags agst aug sep sept okt oct nop nov des dec "
           "january february march may june july august october december")
_CLOCK_WORDS = "wib wita wit gmt utc am pm pukul"
# Whole words only, looked up in a set: a regex alternation of them costs a try at every position.
_DATE_WORDS = frozenset(f"{_DAYS} {_MONTHS} {_CLOCK_WORDS}".split())
_UNITS = (r"detik|menit|jam|hari|minggu|pekan|bulan|tahun|"
          r"secs?|seconds?|mins?|minutes?|hours?|hrs?|days?|weeks?|months?|years?")
_RELATIVE = re.compile(
    rf"\b(?:\d+|an?|satu|se)[ \t]*(?:{_UNITS})[ \t]*(?:yang[ \t]+)?(?:lalu|lampau|ago)\b"
    r"|\b(?:baru[ \t]+saja|hari[ \t]+ini|kemarin|just[ \t]+now|yesterday|today)\b",
    re.IGNORECASE,
)
# Tokens and ids written into the text: long runs of letters and digits mixed.
_TOKENS = re.compile(r"\b(?=[A-Za-z_-]*\d)(?=\d*[A-Za-z])[A-Za-z0-9_-]{16,}\b")
# Everything but letters, digits, apostrophes and line breaks becomes a space; digits then go too.
_NOT_WORD = re.compile(r"[^\w'\n]+|_")
_DIGITS = re.compile(r"\d+")
# A one-word block is furniture (a label, a menu item, a button), not news.
_CONTENT_WORDS = 2


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The page's digest and the short hashes of its content blocks (2+ words)."""

    digest: str
    blocks: frozenset[str]


def normalise_text(text: str) -> str:
    """Lower-case text without dates, clocks, relative times, tokens, digits or punctuation.

    Line breaks are kept, so a whole page's text can be normalised in one pass and split after.
    """
    text = _RELATIVE.sub(" ", text.replace("\u2019", "'"))
    text = _TOKENS.sub(" ", text)
    text = _DIGITS.sub(" ", _NOT_WORD.sub(" ", text.lower()))
    lines = []
    for line in text.split("\n"):
        words = (word.strip("'") for word in line.split())
        lines.append(" ".join(word.replace("'", "") for word in words if word and word not in _DATE_WORDS))
    return "\n".join(lines)


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
    title = (root.findtext(".//title") or "").replace("\n", " ")
    doomed = [element for element in root.iter()
              if not isinstance(element.tag, str) or element.tag in _DROP_TAGS or _self_changing(element)]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()  # keeps the tail text, which belongs to the parent
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag in _BLOCK_TAGS:
            element.text = "\n" + (element.text or "")
            element.tail = "\n" + (element.tail or "")
    normalised = normalise_text(title + "\n" + root.text_content())
    return [block for block in normalised.split("\n") if block]


def content_fingerprint(body: bytes) -> Fingerprint:
    """Digest of the page's distinct blocks (order-free: a shuffled widget is no change) and block hashes."""
    blocks = text_blocks(body)
    distinct = sorted(set(blocks))
    digest = hashlib.sha256("\n".join(distinct).encode()).hexdigest()
    content = frozenset(hashlib.sha256(block.encode()).hexdigest()[:16] for block in distinct
                        if len(block.split()) >= _CONTENT_WORDS)
    return Fingerprint(digest, content)
