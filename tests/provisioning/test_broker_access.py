"""Against a real Mosquitto with the generated config: who may connect, publish and read what."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest

from provisioning.broker import MAX_PAYLOAD_BYTES
from shared import topics
from tests.fixtures.broker import (
    AGENT_MUBA,
    AGENT_PALEMBANG,
    CENTRAL,
    CENTRAL_COMMANDS,
    CENTRAL_OBSERVER,
    READER,
    BrokerClient,
    BrokerConnectError,
    Pki,
    TlsBroker,
    _broker_readable_tempdir,
    make_pki,
)

SUCCESS = 0x00
NO_MATCHING_SUBSCRIBERS = 0x10
NOT_AUTHORIZED = 0x87
GRANTED_QOS_1 = 0x01


def test_agent_report_reaches_central(tls_broker: TlsBroker) -> None:
    central = tls_broker.connect(CENTRAL)
    # Only this test's topic: the broker is shared per worker, so a wildcard would also bring
    # retained messages other tests left behind.
    central.subscribe_and_wait(topics.camera_status(AGENT_PALEMBANG, "cam-1"))
    agent = tls_broker.connect(AGENT_PALEMBANG)

    reason = agent.publish_and_wait(topics.camera_status(AGENT_PALEMBANG, "cam-1"), b'{"ok": true}')

    assert reason.value == SUCCESS
    message = central.next_message()
    assert message.topic == topics.camera_status(AGENT_PALEMBANG, "cam-1")
    assert message.payload == b'{"ok": true}'


def test_every_agent_report_channel_is_writable(tls_broker: TlsBroker) -> None:
    agent = tls_broker.connect(AGENT_MUBA)
    for topic in (
        topics.availability(AGENT_MUBA),
        topics.metrics(AGENT_MUBA),
        topics.inventory(AGENT_MUBA),
        topics.camera_status(AGENT_MUBA, "cam-9"),
        topics.camera_thumbnail(AGENT_MUBA, "cam-9"),
        topics.website_status(AGENT_MUBA, "dinkes"),
        topics.command_result(AGENT_MUBA),
    ):
        assert agent.publish_and_wait(topic, b"{}").value in (SUCCESS, NO_MATCHING_SUBSCRIBERS), topic


def test_publish_under_another_agents_prefix_is_refused_with_puback_0x87(tls_broker: TlsBroker) -> None:
    central = tls_broker.connect(CENTRAL)
    central.subscribe_and_wait(topics.ALL_AGENT_TOPICS)
    intruder = tls_broker.connect(AGENT_PALEMBANG)

    reason = intruder.publish_and_wait(topics.metrics(AGENT_MUBA), b"forged")

    # Mosquitto 2.0.11 answers an MQTT v5 QoS 1 publish it denies with PUBACK 0x87 and keeps the
    # connection open; the message is dropped.
    assert reason.value == NOT_AUTHORIZED
    assert intruder.is_connected()
    central.assert_no_message()
    assert intruder.publish_and_wait(topics.metrics(AGENT_PALEMBANG), b"own").value == SUCCESS


def test_agent_cannot_publish_its_own_commands(tls_broker: TlsBroker) -> None:
    agent = tls_broker.connect(AGENT_PALEMBANG)
    assert agent.publish_and_wait(topics.command(AGENT_PALEMBANG, "reboot"), b"{}").value == NOT_AUTHORIZED


def test_agent_outside_the_topic_tree_is_refused(tls_broker: TlsBroker) -> None:
    agent = tls_broker.connect(AGENT_PALEMBANG)
    for topic in (topics.PUBLIC_ALERTS_TOPIC, f"{topics.agent_prefix(AGENT_PALEMBANG)}/anything", "other/x"):
        assert agent.publish_and_wait(topic, b"{}").value == NOT_AUTHORIZED, topic


def test_central_command_reaches_only_its_agent(tls_broker: TlsBroker) -> None:
    palembang = tls_broker.connect(AGENT_PALEMBANG)
    # Mosquitto 2.0 grants a subscription it will never deliver to (SUBACK 0x01) and filters at delivery.
    assert [r.value for r in palembang.subscribe_and_wait(topics.command_subscription(AGENT_MUBA))] == [
        GRANTED_QOS_1
    ]
    palembang.subscribe_and_wait(topics.command_subscription(AGENT_PALEMBANG))
    central = tls_broker.connect(CENTRAL)

    assert central.publish_and_wait(topics.command(AGENT_MUBA, "rescan"), b"for muba").value in (
        SUCCESS,
        NO_MATCHING_SUBSCRIBERS,
    )
    assert (
        central.publish_and_wait(topics.command(AGENT_PALEMBANG, "rescan"), b"for palembang").value == SUCCESS
    )

    message = palembang.next_message()
    assert (message.topic, message.payload) == (topics.command(AGENT_PALEMBANG, "rescan"), b"for palembang")
    palembang.assert_no_message(0.5)


def test_confirmations_reach_only_their_agent_and_only_central_writes_them(tls_broker: TlsBroker) -> None:
    palembang = tls_broker.connect(AGENT_PALEMBANG)
    palembang.subscribe_and_wait(topics.confirmations(AGENT_MUBA))  # granted, never delivered (see above)
    palembang.subscribe_and_wait(topics.confirmations(AGENT_PALEMBANG))
    # An agent confirming its own reports (or another's) would let the outbox forget what central never stored.
    assert palembang.publish_and_wait(topics.confirmations(AGENT_PALEMBANG), b"{}").value == NOT_AUTHORIZED
    assert palembang.publish_and_wait(topics.confirmations(AGENT_MUBA), b"{}").value == NOT_AUTHORIZED
    central = tls_broker.connect(CENTRAL)
    assert central.publish_and_wait(topics.confirmations(AGENT_MUBA), b"for muba").value in (
        SUCCESS,
        NO_MATCHING_SUBSCRIBERS,
    )
    assert central.publish_and_wait(topics.confirmations(AGENT_PALEMBANG), b"for palembang").value == SUCCESS
    message = palembang.next_message()
    assert (message.topic, message.payload) == (topics.confirmations(AGENT_PALEMBANG), b"for palembang")
    palembang.assert_no_message(0.5)


def test_central_cannot_pose_as_an_agent(tls_broker: TlsBroker) -> None:
    central = tls_broker.connect(CENTRAL)
    assert central.publish_and_wait(topics.metrics(CENTRAL), b"{}").value == NOT_AUTHORIZED
    assert central.publish_and_wait(topics.public_regency("16.71"), b"{}").value in (
        SUCCESS,
        NO_MATCHING_SUBSCRIBERS,
    )
    # Central's other certificates never write an agent's topics; the ingest's do, to clear what an agent
    # retained against the contract (central/ingest/retention.py), live frames included.
    commands = tls_broker.connect(CENTRAL_COMMANDS)
    for topic in (topics.metrics(AGENT_MUBA), topics.camera_status(AGENT_MUBA, "c"), topics.live_frames(AGENT_MUBA, "c")):
        assert commands.publish_and_wait(topic, b"", retain=True).value == NOT_AUTHORIZED, topic
        assert central.publish_and_wait(topic, b"", retain=True).value in (SUCCESS, NO_MATCHING_SUBSCRIBERS), topic
    assert central.publish_and_wait(topics.command_result(CENTRAL), b"", retain=True).value == NOT_AUTHORIZED


def test_reader_reads_public_topics_only_and_cannot_publish(tls_broker: TlsBroker) -> None:
    reader = tls_broker.connect(READER)
    reader.subscribe_and_wait(topics.ALL_AGENT_TOPICS)
    reader.subscribe_and_wait(topics.ALL_PUBLIC_TOPICS)
    agent = tls_broker.connect(AGENT_PALEMBANG)
    central = tls_broker.connect(CENTRAL)

    agent.publish_and_wait(topics.metrics(AGENT_PALEMBANG), b"private")
    central.publish_and_wait(topics.public_regency("16.71"), b"public")

    message = reader.next_message()
    assert (message.topic, message.payload) == (topics.public_regency("16.71"), b"public")
    reader.assert_no_message(0.5)
    for topic in (topics.PUBLIC_ALERTS_TOPIC, topics.metrics(READER), topics.command(AGENT_MUBA, "x")):
        assert reader.publish_and_wait(topic, b"{}").value == NOT_AUTHORIZED, topic


def test_live_frames_go_from_their_agent_to_central_and_nowhere_else(tls_broker: TlsBroker) -> None:
    own = topics.live_frames(AGENT_PALEMBANG, "cam-live")
    central = tls_broker.connect(CENTRAL_OBSERVER)  # one certificate is one connection: not the ingest's
    central.subscribe_and_wait(f"{topics.LIVE}/#")
    ingest = tls_broker.connect(CENTRAL)
    ingest.subscribe_and_wait(topics.ALL_AGENT_TOPICS)  # the ingest's subscription: frames stay out of it
    reader = tls_broker.connect(READER)
    reader.subscribe_and_wait(f"{topics.LIVE}/#")
    agent = tls_broker.connect(AGENT_PALEMBANG)

    assert agent.publish_and_wait(own, b"frame").value == SUCCESS
    message = central.next_message()
    assert (message.topic, message.payload) == (own, b"frame")
    ingest.assert_no_message(0.3)
    reader.assert_no_message(0.3)
    # Nobody may publish frames in an agent's name: not another agent, not central's web or relay side, not a
    # reader. (The ingest may, to clear retained frames: test_central_cannot_pose_as_an_agent.)
    assert agent.publish_and_wait(topics.live_frames(AGENT_MUBA, "cam-live"), b"forged").value == NOT_AUTHORIZED
    commands = tls_broker.connect(CENTRAL_COMMANDS)
    for client, name in ((commands, CENTRAL_COMMANDS), (reader, READER)):
        for topic in (topics.live_frames(name, "cam-live"), own):
            assert client.publish_and_wait(topic, b"forged").value == NOT_AUTHORIZED, (name, topic)
    central.assert_no_message(0.3)


def test_new_agent_can_publish_without_a_broker_reload(tls_broker: TlsBroker) -> None:
    name = tls_broker.pki.provision_agent(regency="16.74")
    agent = tls_broker.connect(name)
    assert agent.publish_and_wait(topics.availability(name), b"{}").value in (
        SUCCESS,
        NO_MATCHING_SUBSCRIBERS,
    )


def test_payload_at_the_codec_limit_fits_max_packet_size(tls_broker: TlsBroker) -> None:
    agent = tls_broker.connect(AGENT_PALEMBANG)
    payload = b"\xff" * MAX_PAYLOAD_BYTES
    reason = agent.publish_and_wait(topics.camera_thumbnail(AGENT_PALEMBANG, "cam-1"), payload)
    assert reason.value in (SUCCESS, NO_MATCHING_SUBSCRIBERS)


def test_connecting_without_a_certificate_fails(tls_broker: TlsBroker) -> None:
    with pytest.raises(BrokerConnectError):
        tls_broker.connect_with("anonymous", certfile=None, keyfile=None, timeout=5)
    assert "peer did not return a certificate" in tls_broker.log_text()


def test_certificate_from_another_ca_fails(
    tls_broker: TlsBroker, tmp_path_factory: pytest.TempPathFactory
) -> None:
    foreign = make_pki(tmp_path_factory.mktemp("foreign") / "pki")
    with pytest.raises(BrokerConnectError):
        tls_broker.connect_with(
            AGENT_PALEMBANG,
            certfile=foreign.cert(AGENT_PALEMBANG),
            keyfile=foreign.key(AGENT_PALEMBANG),
            timeout=5,
        )


def test_revoked_certificate_fails_after_reload(tls_broker: TlsBroker) -> None:
    name = tls_broker.pki.provision_agent(regency="16.06")
    tls_broker.connect(name).close()

    tls_broker.pki.revoke(name)
    tls_broker.reload()

    with pytest.raises(BrokerConnectError):
        tls_broker.connect(name, timeout=5)
    # Only the revoked certificate is refused.
    tls_broker.connect(AGENT_MUBA)


def test_revoked_certificate_fails_after_restart(tls_broker: TlsBroker) -> None:
    name = tls_broker.pki.provision_agent(regency="16.06")
    tls_broker.pki.revoke(name)
    tls_broker.restart()
    with pytest.raises(BrokerConnectError):
        tls_broker.connect(name, timeout=5)


def test_queued_reports_survive_a_broker_restart(tls_broker: TlsBroker) -> None:
    """Central's persistent session keeps QoS 1 reports while it is away, across a broker restart."""
    session = {"client_id": "central-ingest-test", "clean_start": False, "session_expiry": 3600}
    central = tls_broker.connect(CENTRAL, **session)  # type: ignore[arg-type]
    central.subscribe_and_wait(topics.ALL_AGENT_TOPICS)
    central.close()
    agent = tls_broker.connect(AGENT_PALEMBANG)
    for minute in range(3):
        agent.publish_and_wait(topics.metrics(AGENT_PALEMBANG), f"minute {minute}".encode())
    agent.close()

    tls_broker.restart()

    central = tls_broker.connect(CENTRAL, **session)  # type: ignore[arg-type]
    received = [central.next_message().payload for _ in range(3)]
    assert received == [b"minute 0", b"minute 1", b"minute 2"]


def test_stopped_broker_refuses_connections_until_started(tls_broker: TlsBroker) -> None:
    tls_broker.stop()
    assert not tls_broker.running
    with pytest.raises(BrokerConnectError):
        tls_broker.connect(AGENT_PALEMBANG, timeout=2)
    tls_broker.start()
    assert tls_broker.connect(AGENT_PALEMBANG).is_connected()


def test_central_ingest_workers_share_one_subscription(tls_broker: TlsBroker) -> None:
    """Several ingest workers, each with its own central certificate, split the reports via $share."""
    shared_filter = f"$share/ingest/{topics.ALL_AGENT_TOPICS}"
    workers = [tls_broker.connect(CENTRAL), tls_broker.connect(CENTRAL_OBSERVER)]
    for worker in workers:
        worker.subscribe_and_wait(shared_filter)
    agent = tls_broker.connect(AGENT_MUBA)

    for n in range(6):
        assert agent.publish_and_wait(topics.metrics(AGENT_MUBA), str(n).encode()).value == SUCCESS

    received = sorted(int(m.payload) for w in workers for m in _drain(w))
    assert received == list(range(6))


def _drain(client: BrokerClient, quiet: float = 0.5) -> list[mqtt.MQTTMessage]:
    messages = []
    while True:
        try:
            messages.append(client.next_message(timeout=quiet))
        except TimeoutError:
            return messages


def test_client_reconnects_and_resumes_its_session_after_an_outage(tls_broker: TlsBroker) -> None:
    central = tls_broker.connect(CENTRAL, client_id="central-outage", clean_start=False, session_expiry=600)
    central.subscribe_and_wait(topics.command_subscription("+"))

    tls_broker.stop()
    tls_broker.start()
    central.wait_connected()

    name = tls_broker.pki.provision_agent()
    central.publish_and_wait(topics.command(name, "ping"), b"")
    assert central.next_message().topic == topics.command(name, "ping")


def test_factory_brokers_are_isolated(
    tls_broker_factory: Callable[[], TlsBroker], tls_broker: TlsBroker
) -> None:
    first, second = tls_broker_factory(), tls_broker_factory()
    assert len({first.port, second.port, tls_broker.port}) == 3
    subscriber = first.connect(CENTRAL)
    subscriber.subscribe_and_wait(topics.ALL_AGENT_TOPICS)
    second.connect(AGENT_MUBA).publish_and_wait(topics.metrics(AGENT_MUBA), b"elsewhere")
    subscriber.assert_no_message(0.5)
    second.kill()
    assert not second.running


def test_denials_show_in_the_log_the_way_operations_md_says(
    tls_broker_factory: Callable[[], TlsBroker],
) -> None:
    # docs/operations.md, "Seeing what the broker refuses": Mosquitto 2.0.11 logs a denial only at debug;
    # appending "log_type debug" and reloading shows it without dropping the connected client.
    broker = tls_broker_factory()
    agent = broker.connect(AGENT_PALEMBANG)
    assert agent.publish_and_wait(topics.metrics(AGENT_MUBA), b"x").value == NOT_AUTHORIZED
    assert "Denied PUBLISH" not in broker.log_text()  # the generated config alone does not show it
    with open(broker.config_path, "a", encoding="utf-8") as config:
        config.write("log_type debug\n")
    broker.reload()
    assert agent.is_connected()
    assert agent.publish_and_wait(topics.metrics(AGENT_MUBA), b"x").value == NOT_AUTHORIZED
    broker.wait_for_log(f"Denied PUBLISH from {AGENT_PALEMBANG}")
    assert f"'{topics.metrics(AGENT_MUBA)}'" in broker.log_text()


# --- client ids are bound to certificates (use_username_as_clientid) -----------------------------------


@pytest.mark.parametrize("attacker", [AGENT_PALEMBANG, READER])
def test_no_certificate_can_take_the_ingest_session(tls_broker: TlsBroker, attacker: str) -> None:
    # The attack that lost reports: connect with the ingest's client id and clean_start=false, again and
    # again. The broker gives the attacker its own certificate's session instead; central stays connected
    # and receives every report another regency sends meanwhile.
    ingest_id = "scc-central-ingest"
    central = tls_broker.connect(CENTRAL, client_id=ingest_id, clean_start=False, session_expiry=600)
    central.subscribe_and_wait(f"$share/ingest/{topics.ALL_AGENT_TOPICS}")
    victim = tls_broker.connect(AGENT_MUBA)
    total = 200
    for n in range(total):
        if n % 40 == 0:
            tls_broker.connect(attacker, client_id=ingest_id, clean_start=False, session_expiry=600)
            tls_broker.connect(attacker, client_id=CENTRAL, clean_start=False, session_expiry=600)
        assert victim.publish_and_wait(topics.metrics(AGENT_MUBA), str(n).encode()).value == SUCCESS
    received = sorted(int(m.payload) for m in _drain(central))
    assert received == list(range(total))
    assert central.is_connected()
    assert "Client central already connected" not in tls_broker.log_text()
    assert f"as {attacker} (" in tls_broker.log_text()  # the broker named the attacker by its certificate


def test_an_agent_cannot_take_another_agents_session(tls_broker: TlsBroker) -> None:
    # Before: the victim was cut off and its last will marked it offline.
    victim = tls_broker.connect(AGENT_MUBA, client_id=AGENT_MUBA, clean_start=False, session_expiry=600)
    attacker = tls_broker.connect(AGENT_PALEMBANG, client_id=AGENT_MUBA, clean_start=False, session_expiry=600)
    time.sleep(0.3)
    assert attacker.is_connected() and victim.is_connected()
    assert f"Client {AGENT_MUBA} already connected" not in tls_broker.log_text()
    # What the attacker publishes is still confined to its own certificate's subtree.
    assert attacker.publish_and_wait(topics.metrics(AGENT_MUBA), b"forged").value == NOT_AUTHORIZED
    assert victim.publish_and_wait(topics.metrics(AGENT_MUBA), b"real").value in (SUCCESS, NO_MATCHING_SUBSCRIBERS)


# --- memory: a retained flood meets the broker's memory_limit, not the box's ------------------------------


def test_a_retained_flood_is_cut_off_at_the_memory_limit(pki: Pki) -> None:
    # Mosquitto 2.0.11 cannot refuse retain per topic, so an agent may retain under its own subtree; the
    # generated memory_limit is what stops a flood (lowered here from the production figure to flood fast).
    limit = 64 * 1024 * 1024
    broker = TlsBroker(pki=pki, run_dir=_broker_readable_tempdir("scc-flood-"), memory_limit=limit)
    broker.start()
    try:
        baseline = broker.rss_bytes()
        agent = broker.connect(AGENT_MUBA)
        payload = b"x" * (MAX_PAYLOAD_BYTES - 1024)
        sent = 0
        for n in range(300):  # 300 MB offered, as in the attack
            try:
                agent.publish_and_wait(topics.camera_status(AGENT_MUBA, f"cam-{n}"), payload, retain=True, timeout=5)
            except (BrokerConnectError, TimeoutError):
                break
            if not agent.is_connected():
                break
            sent += 1
        assert sent < 100, f"{sent} retained megabytes accepted under a {limit >> 20} MB limit"
        broker.wait_for_log(f"Client {AGENT_MUBA} disconnected due to out of memory")
        assert broker.running
        assert broker.rss_bytes() < baseline + limit + 16 * 1024 * 1024

        # Clearing up, as docs/operations.md says: central's certificate lists the stray retained topics,
        # the agent's own certificate (kept in clients/ on the central box) publishes an empty one to each.
        # With the memory full the broker delivers only a few at a time: round after round until none.
        agent.close()  # the flooder, which would take the session back: one certificate, one client id
        cleaner = broker.connect(AGENT_MUBA)
        cleared: set[str] = set()
        for _round in range(100):
            lister = broker.connect(CENTRAL_COMMANDS)
            lister.subscribe_and_wait(f"{topics.agent_prefix(AGENT_MUBA)}/#", retained=True)
            stray = []
            with contextlib.suppress(TimeoutError):
                while True:
                    stray.append(lister.next_message(timeout=0.5).topic)
            lister.close()
            if not stray:
                break
            for topic in stray:
                cleaner.publish_and_wait(topic, b"", retain=True)
            cleared.update(stray)
        assert len(cleared) == sent
        # The broker has room again: a report goes through to central.
        central = broker.connect(CENTRAL)
        central.subscribe_and_wait(topics.ALL_AGENT_TOPICS)
        reporter = broker.connect(AGENT_PALEMBANG)
        assert reporter.publish_and_wait(topics.metrics(AGENT_PALEMBANG), b"after").value == SUCCESS
        assert central.next_message().payload == b"after"
    finally:
        broker.close_clients()
        broker.stop()
        shutil.rmtree(broker.run_dir, ignore_errors=True)
