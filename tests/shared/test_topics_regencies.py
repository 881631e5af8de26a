"""The topic tree parses what it builds, refuses what it does not, and the 17 regencies are all there."""

from __future__ import annotations

import pytest

from shared import topics
from shared.regencies import UnknownRegencyError, all_regencies, get_regency
from shared.topics import Channel, TopicError


@pytest.mark.parametrize(
    ("topic", "channel", "ids"),
    [
        (topics.availability("a1"), Channel.AVAILABILITY, {"agent": "a1"}),
        (topics.metrics("a1"), Channel.METRICS, {"agent": "a1"}),
        (topics.inventory("a1"), Channel.INVENTORY, {"agent": "a1"}),
        (topics.camera_status("a1", "c1"), Channel.CAMERA_STATUS, {"agent": "a1", "camera_id": "c1"}),
        (topics.camera_thumbnail("a1", "c1"), Channel.CAMERA_THUMBNAIL, {"agent": "a1", "camera_id": "c1"}),
        (topics.website_status("a1", "w1"), Channel.WEBSITE_STATUS, {"agent": "a1", "website_id": "w1"}),
        (topics.command("a1", "check_now"), Channel.COMMAND, {"agent": "a1", "command": "check_now"}),
        (topics.command_result("a1"), Channel.COMMAND_RESULT, {"agent": "a1"}),
        (topics.public_regency("16.71"), Channel.PUBLIC_REGENCY, {"regency": "16.71"}),
        (
            topics.public_camera("16.71", "a1", "c1"),
            Channel.PUBLIC_CAMERA,
            {"regency": "16.71", "camera_id": "c1"},
        ),
        (topics.public_website("16.71", "a1", "w1"), Channel.PUBLIC_WEBSITE, {"website_id": "w1"}),
        # "16": the province's own offices, an owner beside the regencies (central/ingest/public.py)
        (topics.public_regency("16"), Channel.PUBLIC_REGENCY, {"regency": "16"}),
        (topics.public_camera("16", "a1", "c1"), Channel.PUBLIC_CAMERA, {"regency": "16", "camera_id": "c1"}),
        (topics.PUBLIC_ALERTS_TOPIC, Channel.PUBLIC_ALERTS, {}),
    ],
)
def test_parse_inverts_the_builders(topic: str, channel: Channel, ids: dict[str, str]) -> None:
    info = topics.parse(topic)
    assert info.channel is channel
    for key, value in ids.items():
        assert getattr(info, key) == value


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "scc/v2/agents/a/metrics",
        "scc/v1/agents",
        "scc/v1/agents/a/metrics/extra",
        "scc/v1/agents/+/metrics",
        "scc/v1/agents/#/metrics",
        "scc/v1/agents//metrics",
        "scc/v1/public/regencies/16.71",
    ],
)
def test_parse_refuses_what_is_not_a_channel(topic: str) -> None:
    with pytest.raises(TopicError):
        topics.parse(topic)


@pytest.mark.parametrize("value", ["", "trailing\n", "-lead", "a/b", "a+b", "a#", "x" * 65, "spa ce", "ümlaut"])
def test_identifiers_refuse_what_breaks_topics(value: str) -> None:
    assert not topics.is_identifier(value)
    with pytest.raises(ValueError, match="not a valid id"):
        topics.check_identifier(value, "agent")


def test_seventeen_regencies_keyed_by_code() -> None:
    regencies = all_regencies()
    assert len(regencies) == 17
    assert len({r.code for r in regencies}) == 17
    assert get_regency("16.71").name == "Palembang"
    assert get_regency("16.06").display_name == "Kabupaten Musi Banyuasin"
    assert {get_regency(c).name for c in ("16.71", "16.06", "16.07")} == {
        "Palembang",
        "Musi Banyuasin",
        "Banyuasin",
    }


def test_unknown_regency_names_the_valid_codes() -> None:
    with pytest.raises(UnknownRegencyError, match=r"'16\.99'.*16\.01"):
        get_regency("16.99")


@pytest.mark.parametrize("regency", ["16.7", "17.71", "+", "16.71x", "1", "16."])
def test_public_topics_refuse_what_is_not_a_regency_code(regency: str) -> None:
    with pytest.raises(TopicError, match=r"not a code like 16\.71"):
        topics.parse(f"scc/v1/public/regencies/{regency}/summary")
