"""How bad a regency is, for the command room: the one rule behind "semua baik / perlu perhatian / kritis".

Pure and table-driven: :func:`assess` reads a :class:`Signals` and walks :data:`RULES` top to bottom;
the first rule that matches decides the severity, and every matching rule is listed as a reason, so
the screen can say *why* a regency is red. The rule weighs impact, the way an operator ranks trouble:

* an agent offline blinds the whole regency (every camera and website unknown): **critical**;
* a fifth of the cameras offline, or half the websites down: **critical**;
* cameras offline, a quarter of the cameras degraded, any website down or a third stale: **attention**;
* a few degraded cameras or one stale website among many: still **all well** (the wall shows those
  cameras' own tiles; the regency does not turn amber for them);
* no agent, or one never heard from: **not integrated** (grey, never red).

:func:`impact` orders regencies of the same severity: offline cameras weigh most, then websites down,
degraded cameras, stale websites. The table is documented in docs/operations.md ("Regency severity")
and tested row by row in tests/central/web/test_severity.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["RULES", "Assessment", "Health", "Rule", "Signals", "assess", "impact"]


class Health(StrEnum):
    """One colour per regency; the order of declaration is the order of urgency, worst first."""

    CRITICAL = "critical"
    WARN = "warn"
    OK = "ok"
    INACTIVE = "inactive"  # nothing reporting yet: grey, not red

    @property
    def rank(self) -> int:
        """0 for the most urgent: sort keys put critical regencies first."""
        return list(Health).index(self)


@dataclass(frozen=True, slots=True)
class Signals:
    """What the rule reads about one regency (or the province's own offices)."""

    agents_total: int = 0
    agents_online: int = 0
    cameras_total: int = 0
    cameras_offline: int = 0
    cameras_degraded: int = 0
    websites_total: int = 0
    websites_down: int = 0
    websites_stale: int = 0
    heard_from: bool = True  # an agent has reported at least once, or something it sent is stored

    def share(self, part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    @property
    def offline_share(self) -> float:
        return self.share(self.cameras_offline, self.cameras_total)

    @property
    def troubled_share(self) -> float:
        return self.share(self.cameras_offline + self.cameras_degraded, self.cameras_total)

    @property
    def down_share(self) -> float:
        return self.share(self.websites_down, self.websites_total)

    @property
    def stale_share(self) -> float:
        return self.share(self.websites_stale, self.websites_total)


# Thresholds, named so the table and the documentation say the same thing.
CRITICAL_OFFLINE_SHARE = 0.2
CRITICAL_DOWN_SHARE = 0.5
ATTENTION_TROUBLED_SHARE = 0.25
ATTENTION_STALE_SHARE = 1 / 3


@dataclass(frozen=True, slots=True)
class Rule:
    """One row: ``code`` names the reason (worded by the web's SEVERITY_REASON_WORDS)."""

    code: str
    health: Health
    matches: Callable[[Signals], bool]


RULES: tuple[Rule, ...] = (
    Rule("not_integrated", Health.INACTIVE, lambda s: s.agents_total == 0 or not s.heard_from),
    Rule("agent_offline", Health.CRITICAL, lambda s: s.agents_online < s.agents_total),
    Rule("cameras_offline_many", Health.CRITICAL, lambda s: s.offline_share >= CRITICAL_OFFLINE_SHARE),
    Rule(
        "websites_down_many",
        Health.CRITICAL,
        lambda s: s.websites_down >= 2 and s.down_share >= CRITICAL_DOWN_SHARE,
    ),
    Rule("cameras_offline", Health.WARN, lambda s: s.cameras_offline > 0),
    Rule("cameras_troubled", Health.WARN, lambda s: s.troubled_share >= ATTENTION_TROUBLED_SHARE),
    Rule("websites_down", Health.WARN, lambda s: s.websites_down > 0),
    Rule("websites_stale", Health.WARN, lambda s: s.stale_share >= ATTENTION_STALE_SHARE),
)

# How much each kind of trouble weighs in the ranking, per unit of share.
IMPACT_WEIGHTS = {"offline": 1.0, "down": 0.6, "degraded": 0.4, "stale": 0.2}


@dataclass(frozen=True, slots=True)
class Assessment:
    health: Health
    impact: float
    reasons: tuple[str, ...]  # the codes of every rule that matched, in table order

    @property
    def sort_key(self) -> tuple[int, float]:
        """Worst first: by severity, then by impact (higher first)."""
        return (self.health.rank, -self.impact)


def impact(s: Signals) -> float:
    """A number in [0, 2.2] ranking regencies within one severity; an agent offline counts as all offline."""
    if s.agents_online < s.agents_total:
        return IMPACT_WEIGHTS["offline"] + IMPACT_WEIGHTS["down"]
    return (
        IMPACT_WEIGHTS["offline"] * s.offline_share
        + IMPACT_WEIGHTS["degraded"] * s.share(s.cameras_degraded, s.cameras_total)
        + IMPACT_WEIGHTS["down"] * s.down_share
        + IMPACT_WEIGHTS["stale"] * s.stale_share
    )


def assess(s: Signals) -> Assessment:
    """The first matching rule's severity (``ok`` when none matches), every matching rule as a reason."""
    matched = [rule for rule in RULES if rule.matches(s)]
    if matched and matched[0].health is Health.INACTIVE:
        return Assessment(Health.INACTIVE, 0.0, ("not_integrated",))
    health = matched[0].health if matched else Health.OK
    return Assessment(health, round(impact(s), 4), tuple(rule.code for rule in matched))
