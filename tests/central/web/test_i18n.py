"""The Indonesian catalog: complete for every string in the code, and its shipped .mo compiled from the .po."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

WEB = Path(__file__).resolve().parents[3] / "central" / "web"
CATALOG = WEB / "translations" / "id" / "LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def _source_ids() -> set[str]:
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(WEB),
        method_map,
        keywords=KEYWORDS,
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_string_has_an_indonesian_translation() -> None:
    with (CATALOG / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {
        (m.id[0] if isinstance(m.id, tuple) else m.id)
        for m in catalog
        if m.id and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    missing = sorted(_source_ids() - translated)
    assert not missing, f"untranslated (run pybabel extract/update, translate, compile): {missing}"


def _key(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def test_shipped_mo_matches_the_po() -> None:
    with (CATALOG / "messages.po").open("rb") as handle:
        po = {_key(m.id): _key(m.string) for m in read_po(handle) if m.id}
    with (CATALOG / "messages.mo").open("rb") as handle:
        mo = {_key(m.id): _key(m.string) for m in read_mo(io.BytesIO(handle.read())) if m.id}
    assert po == mo, "messages.mo is stale: pybabel compile -d central/web/translations"
