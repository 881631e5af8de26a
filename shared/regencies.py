"""The 17 regencies and cities of South Sumatra, keyed by their Kemendagri code (e.g. ``16.71``)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

PROVINCE_CODE = "16"
PROVINCE_NAME = "Sumatera Selatan"
# The province's own offices (Pemprov), an owner of cameras and websites beside the 17 regencies, keyed
# by the province code; central.toml [province] name may call them otherwise on the web pages.
PROVINCE_OFFICES_NAME = f"Pemprov {PROVINCE_NAME}"


@dataclass(frozen=True, slots=True)
class Regency:
    """One kabupaten or kota; ``code`` is the stable key everywhere (API, payloads, topics)."""

    code: str
    bps_code: str
    kind: str
    name: str
    slug: str

    @property
    def display_name(self) -> str:
        return f"{self.kind} {self.name}"


class UnknownRegencyError(ValueError):
    """A regency code that is not one of South Sumatra's 17."""

    def __init__(self, code: str) -> None:
        known = ", ".join(r.code for r in all_regencies())
        super().__init__(f"unknown regency code {code!r}; South Sumatra's codes are: {known}")
        self.code = code


@cache
def all_regencies() -> tuple[Regency, ...]:
    """All 17 regencies in code order, loaded once from the packaged CSV."""
    text = resources.files("shared").joinpath("regencies.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return tuple(sorted((Regency(**row) for row in rows), key=lambda r: r.code))


@cache
def _by_code() -> dict[str, Regency]:
    return {r.code: r for r in all_regencies()}


def get_regency(code: str) -> Regency:
    """The regency with this code, or UnknownRegencyError naming the valid codes."""
    try:
        return _by_code()[code]
    except KeyError:
        raise UnknownRegencyError(code) from None


def is_regency_code(code: str) -> bool:
    return code in _by_code()


def regency_label(code: str) -> str:
    """The regency's display name ("Kota Palembang") for a known code, the province's offices for "16"
    ("Pemprov Sumatera Selatan"); any other text as it is."""
    if code == PROVINCE_CODE:
        return PROVINCE_OFFICES_NAME
    return get_regency(code).display_name if is_regency_code(code) else code
