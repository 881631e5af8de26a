"""How a website is named to people: its office (OPD) first, else its host name; the URL comes second."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit


class NamedSite(Protocol):
    """What naming needs of a website row (storage's Website has it all)."""

    @property
    def opd(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def website_id(self) -> str: ...


def host_name(url: str) -> str:
    """``https://dishub.palembang.go.id/berita`` -> ``dishub.palembang.go.id``; '' when there is none."""
    try:
        host = urlsplit(url if "//" in url else f"//{url}").hostname or ""
    except ValueError:  # a malformed address (bad port, brackets) still gets a name below
        return ""
    return host.removeprefix("www.")


def website_title(site: NamedSite) -> str:
    """The office that owns the site, as people in the command room say it; a bare URL names no one."""
    return (
        site.opd
        or site.display_name
        or host_name(site.url)
        or site.website_id
    )
