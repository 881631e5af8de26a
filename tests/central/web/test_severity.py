"""The regency severity rule, row by row (central/web/severity.py, documented in docs/operations.md)."""

from __future__ import annotations

import pytest

from central.web.severity import RULES, Health, Signals, assess

ONLINE = {"agents_total": 1, "agents_online": 1}


@pytest.mark.parametrize(
    ("signals", "health", "reasons"),
    [
        pytest.param(Signals(), Health.INACTIVE, ("not_integrated",), id="no agent"),
        pytest.param(Signals(agents_total=1, heard_from=False), Health.INACTIVE, ("not_integrated",), id="never heard"),
        pytest.param(Signals(**ONLINE, cameras_total=36, websites_total=5), Health.OK, (), id="all well"),
        pytest.param(
            Signals(agents_total=2, agents_online=1, cameras_total=10), Health.CRITICAL, ("agent_offline",), id="agent offline"
        ),
        pytest.param(
            Signals(**ONLINE, cameras_total=10, cameras_offline=2),
            Health.CRITICAL,
            ("cameras_offline_many", "cameras_offline"),
            id="a fifth offline",
        ),
        pytest.param(
            Signals(**ONLINE, websites_total=4, websites_down=2),
            Health.CRITICAL,
            ("websites_down_many", "websites_down"),
            id="half the websites down",
        ),
        pytest.param(
            Signals(**ONLINE, websites_total=1, websites_down=1), Health.WARN, ("websites_down",), id="one site of one down"
        ),
        pytest.param(
            Signals(**ONLINE, cameras_total=36, cameras_offline=1), Health.WARN, ("cameras_offline",), id="one offline"
        ),
        pytest.param(
            Signals(**ONLINE, cameras_total=36, cameras_degraded=9),
            Health.WARN,
            ("cameras_troubled",),
            id="a quarter degraded",
        ),
        pytest.param(Signals(**ONLINE, cameras_total=36, cameras_degraded=8), Health.OK, (), id="few degraded"),
        pytest.param(Signals(**ONLINE, websites_total=15, websites_stale=1), Health.OK, (), id="one stale of many"),
        pytest.param(
            Signals(**ONLINE, websites_total=3, websites_stale=1), Health.WARN, ("websites_stale",), id="a third stale"
        ),
    ],
)
def test_rule_table(signals: Signals, health: Health, reasons: tuple[str, ...]) -> None:
    result = assess(signals)
    assert result.health is health
    assert result.reasons == reasons


def test_every_rule_can_decide() -> None:
    """No row is shadowed for good: each one is the first match for some input above or here."""
    firsts = {
        assess(s).reasons[0]
        for s in (
            Signals(),
            Signals(agents_total=1, agents_online=0),
            Signals(**ONLINE, cameras_total=5, cameras_offline=5),
            Signals(**ONLINE, websites_total=2, websites_down=2),
            Signals(**ONLINE, cameras_total=20, cameras_offline=1),
            Signals(**ONLINE, cameras_total=4, cameras_degraded=1),
            Signals(**ONLINE, websites_total=9, websites_down=1),
            Signals(**ONLINE, websites_total=3, websites_stale=1),
        )
    }
    assert firsts == {rule.code for rule in RULES}


def test_impact_ranks_within_a_severity_the_way_an_operator_would() -> None:
    eight_of_36_degraded = assess(Signals(**ONLINE, cameras_total=36, cameras_degraded=8, cameras_offline=1))
    one_of_36_offline = assess(Signals(**ONLINE, cameras_total=36, cameras_offline=1))
    one_site_down = assess(Signals(**ONLINE, cameras_total=36, websites_total=10, websites_down=1))
    assert eight_of_36_degraded.health is one_of_36_offline.health is one_site_down.health is Health.WARN
    ranked = sorted([one_of_36_offline, one_site_down, eight_of_36_degraded], key=lambda a: a.sort_key)
    assert ranked == [eight_of_36_degraded, one_site_down, one_of_36_offline]
    blind = assess(Signals(agents_total=1, agents_online=0, cameras_total=36))
    half_offline = assess(Signals(**ONLINE, cameras_total=36, cameras_offline=18))
    assert sorted([half_offline, blind], key=lambda a: a.sort_key) == [blind, half_offline]
    assert blind.sort_key < eight_of_36_degraded.sort_key < assess(Signals(**ONLINE, cameras_total=1)).sort_key
