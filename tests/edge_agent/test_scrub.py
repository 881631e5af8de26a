"""Credentials never leave the agent in text: URLs, query strings, headers, config dumps and log records."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge_agent import scrub as scrub_module
from edge_agent.checks.base import CameraTarget, outcome
from edge_agent.scrub import MASK, ScrubFilter, install_log_scrubbing, register_secret, scrub
from shared.messages import Outcome
from tests.edge_agent.conftest import agent_config

# Passwords a technician really types: digits only, punctuation, an '@' or ':' that was never URL-encoded.
CASES = [
    ("rtsp://admin:s3cret-Pw@10.0.0.5:554/Streaming/Channels/101", "s3cret-Pw",
     "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101"),
    ("rtsp://admin:p@ss@10.0.0.5/live", "p@ss", "rtsp://admin:***@10.0.0.5/live"),
    ("rtsp://ops@dinkes.go.id:pw1234@10.1.1.1/ch1", "pw1234", "rtsp://ops@dinkes.go.id:***@10.1.1.1/ch1"),
    ("rtsp://admin:a:b:c@10.0.0.9:554", "a:b:c", "rtsp://admin:***@10.0.0.9:554"),
    ("http://admin:12345@10.0.0.7/onvif/device_service", "12345", "http://admin:***@10.0.0.7/onvif/device_service"),
    ("http://10.0.0.5/snapshot.cgi?user=admin&pwd=hunter22&chn=1", "hunter22",
     "http://10.0.0.5/snapshot.cgi?user=admin&pwd=***&chn=1"),
    ("http://10.0.0.5/cgi-bin/snap?PASSWORD=Rahasia1", "Rahasia1", "http://10.0.0.5/cgi-bin/snap?PASSWORD=***"),
    ('Authorization: Digest username="admin", response="6629fae49393a05397450978507c4ef1"',
     "6629fae49393a05397450978507c4ef1", "Authorization: Digest ***"),
    ("Authorization: Basic YWRtaW46c2VjcmV0", "YWRtaW46c2VjcmV0", "Authorization: Basic ***"),
]


@pytest.mark.parametrize(("text", "secret", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_scrub_masks_credentials_and_keeps_the_rest(text: str, secret: str, expected: str) -> None:
    scrubbed = scrub(text)
    assert secret not in scrubbed
    assert scrubbed == expected


@pytest.mark.parametrize("text", [
    "rtsp://10.0.0.5:554/Streaming/Channels/101",
    "http://10.0.0.5/onvif/device_service",
    "camera cam-0001 at 10.0.0.5 answered in 120 ms",
    "http://10.0.0.5/search?q=a@b",
    "mail operator@example.org about rtsp://10.0.0.5/live",
])
def test_scrub_leaves_text_without_credentials_alone(text: str) -> None:
    assert scrub(text) == text


def test_scrub_masks_every_url_in_a_longer_message() -> None:
    text = ("could not open rtsp://admin:one1@10.0.0.5/a, then rtsp://viewer:two2@10.0.0.6/b "
            "and http://10.0.0.7/snap.jpg?pwd=three3")
    scrubbed = scrub(text)
    for secret in ("one1", "two2", "three3"):
        assert secret not in scrubbed
    assert scrubbed.count(MASK) == 3
    assert "admin:" in scrubbed and "viewer:" in scrubbed  # user names help the technician


@pytest.fixture
def no_registered_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A private secret registry: short test secrets must not mask text in other tests."""
    monkeypatch.setattr(scrub_module, "_secrets", {})


@pytest.mark.usefixtures("no_registered_secrets")
def test_registered_secret_is_masked_outside_urls_too() -> None:
    register_secret("Kamera#Sumsel2026")
    text = "login with Kamera#Sumsel2026 refused; url-encoded Kamera%23Sumsel2026 too"
    assert scrub(text) == f"login with {MASK} refused; url-encoded {MASK} too"
    assert scrub(ValueError("password Kamera#Sumsel2026 rejected")) == f"password {MASK} rejected"


@pytest.mark.usefixtures("no_registered_secrets")
@pytest.mark.parametrize(("secret", "text", "expected"), [
    # Short secrets, which used to stay in clear outside a URL's user info.
    ("abc", "login abc refused; pwd=abc&x=1", f"login {MASK} refused; pwd={MASK}&x=1"),
    ("123", "GET /snap?user=admin&pin=123 from 10.0.0.123", f"GET /snap?user=admin&pin={MASK} from 10.0.0.{MASK}"),
    ("7", "password 7 rejected after 17 tries", f"password {MASK} rejected after 17 tries"),
    # Spaces: raw inside a URL (a technician's config), percent- and form-encoded by libraries.
    ("my pass", "rtsp://admin:my pass@10.0.0.5/live", f"rtsp://admin:{MASK}@10.0.0.5/live"),
    ("my pass", "http://10.0.0.5/snap.cgi?pwd=my pass&chn=1", f"http://10.0.0.5/snap.cgi?pwd={MASK}&chn=1"),
    ("my pass", "rtsp://admin:my%20pass@10.0.0.5/live", f"rtsp://admin:{MASK}@10.0.0.5/live"),
    ("my pass", "form user=admin&secret=my+pass", f"form user=admin&secret={MASK}"),
    ("a b", "rtsp://admin:a b@10.0.0.5/live and then a b alone", f"rtsp://admin:{MASK}@10.0.0.5/live and then {MASK} alone"),
    ("p w!", "sent p%20w%21 to the camera", f"sent {MASK} to the camera"),
])
def test_every_registered_secret_is_masked_whatever_its_length_or_characters(
    secret: str, text: str, expected: str
) -> None:
    register_secret(secret)
    assert scrub(text) == expected


@pytest.mark.usefixtures("no_registered_secrets")
def test_a_short_secret_is_not_masked_inside_longer_words() -> None:
    # Masking every "abc" inside "abcdef" would make logs unreadable without hiding anything: the
    # secret is not what is written there.
    register_secret("abc")
    assert scrub("abcdef and 1abc stay") == "abcdef and 1abc stay"


@pytest.mark.usefixtures("no_registered_secrets")
def test_passwords_inside_configured_urls_are_registered(tmp_path: Path) -> None:
    agent_config(
        "agent-urls", tmp_path,
        cameras=[{"id": "cam-1", "host": "10.20.0.5", "rtsp_url": "rtsp://admin:x y@10.20.0.5/live",
                  "snapshot_url": "http://10.20.0.5/snap.cgi?user=admin&pwd=k9"}],
    )
    assert scrub("camera refused x y, then k9") == f"camera refused {MASK}, then {MASK}"


def test_check_outcomes_are_scrubbed() -> None:
    result = outcome("rtsp", Outcome.FAIL, "rtsp_auth_failed", "401 from rtsp://admin:pw-9876@10.0.0.5/live",
                     url="rtsp://admin:pw-9876@10.0.0.5/live")
    assert "pw-9876" not in result.model_dump_json()


def test_config_dumps_never_show_passwords(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = agent_config(
        "agent-scrub", tmp_path,
        networks=[{"cidr": "10.20.0.0/16", "username": "admin", "password": "NetPass#2026"}],
        cameras=[{"id": "cam-1", "host": "10.20.0.5", "username": "admin", "password": "CamPass#2026",
                  "rtsp_url": "rtsp://admin:UrlPass2026@10.20.0.5/live"}],
    )
    for dump in (str(config), repr(config), config.model_dump_json(), repr(config.cameras[0])):
        assert "NetPass#2026" not in dump and "CamPass#2026" not in dump
    target = CameraTarget(camera_id="cam-1", host="10.20.0.5", port=80, username="admin", password="CamPass#2026")
    assert "CamPass#2026" not in repr(target)

    caplog.set_level(logging.DEBUG)
    install_log_scrubbing()  # caplog's handler sits on the root logger like the agent's own handlers
    assert any(isinstance(f, ScrubFilter) for f in caplog.handler.filters)
    log = logging.getLogger("edge_agent.test")
    # The worst case: someone logs the whole configuration, with its plain-text URL credentials.
    log.debug("config: %s", config.model_dump(mode="json"))
    log.warning("camera %s: %s", "cam-1", "refused CamPass#2026 for rtsp://admin:UrlPass2026@10.20.0.5/live")
    try:
        raise ConnectionError("digest failed for http://admin:NetPass#2026@10.20.0.9/onvif/device_service")
    except ConnectionError:
        log.exception("cam-2: ONVIF failed")
    logged = caplog.text + "".join(str(r.exc_text) for r in caplog.records)
    assert "cam-2: ONVIF failed" in logged and "ConnectionError" in logged
    for secret in ("NetPass#2026", "CamPass#2026", "UrlPass2026"):
        assert secret not in logged, f"{secret} leaked into the log"
    assert "rtsp://admin:***@10.20.0.5/live" in logged
