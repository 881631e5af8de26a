"""Send one command to an agent: record it, publish it with central's certificate, report how that went.

The web calls :func:`send_command` from a request; it connects with central's command certificate
(``central-commands``; one sender at a time per box), publishes one QoS 1 Command, waits
for the broker's PUBACK and disconnects (no long-lived MQTT client in the web process). The agent's
CommandResult reaches the database through the ingest; poll ``queries.get_command`` or the change feed
(an ``command_result`` event) for it.
"""

from __future__ import annotations

import fcntl
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import update

from central.config import CentralConfig
from central.storage.db import Database
from central.storage.models import Agent, CommandRecord, CommandState
from shared import codec
from shared.messages import Command, CommandName, new_message_id, utc_now
from shared.mqtt import COMMANDS_PURPOSE, QOS_AT_LEAST_ONCE, make_client, reason_is_success

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 10.0
SENDER_LOCK_NAME = "command-sender.lock"


class CommandError(Exception):
    """The command could not be recorded or handed to the broker; the message says why."""


def send_command(
    config: CentralConfig,
    agent: str,
    name: str | CommandName,
    camera_id: str | None = None,
    *,
    requested_by: str = "",
    database: Database | None = None,
) -> str:
    """Record and publish a Command; returns its command_id. Raises CommandError if the broker is unreachable
    (the row stays, in state ``publish_failed``)."""
    command_name = CommandName(name)
    own_database = database is None
    db = database or Database.from_config(config)
    try:
        command_id = f"cmd-{uuid.uuid4().hex[:16]}"
        with db.session(write=True) as session:
            agent_row = session.get(Agent, agent)
            if agent_row is None:
                raise CommandError(f"unknown agent {agent!r}")
            agent_row.command_seq += 1
            message = Command(
                agent=agent, seq=agent_row.command_seq, msg_id=new_message_id(), ts=utc_now(), command_id=command_id,
                name=command_name, camera_id=camera_id, requested_by=requested_by[:256],
            )
            session.add(CommandRecord(
                command_id=command_id, agent_name=agent, name=command_name.value, camera_id=camera_id,
                requested_by=requested_by[:256], seq=message.seq, msg_id=message.msg_id,
            ))
        error = _publish(config, message)
        with db.session(write=True) as session:
            session.execute(
                update(CommandRecord).where(CommandRecord.command_id == command_id).values(
                    state=(CommandState.PUBLISH_FAILED if error else CommandState.SENT).value,
                    sent_at=None if error else utc_now(),
                    result_message=error or "",
                )
            )
        if error:
            raise CommandError(error)
        return command_id
    finally:
        if own_database:
            db.dispose()


@contextmanager
def _one_sender(state_dir: Path) -> Iterator[None]:
    # The command certificate is one client id at the broker: a second connection with it (another web
    # worker, the CLI) would take the first one's session before its PUBACK arrived. Take turns.
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / SENDER_LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _publish(config: CentralConfig, message: Command) -> str:
    """Publish and wait for the PUBACK; returns an error text, or '' on success."""
    broker = config.broker
    try:
        client = make_client(broker.tls.sibling(COMMANDS_PURPOSE))
    except (OSError, ValueError) as error:
        return f"the command certificate is unusable ({error}); issue it with 'scc-provision central'"
    with _one_sender(config.state_dir):
        return _publish_with(client, config, message)


def _publish_with(client: mqtt.Client, config: CentralConfig, message: Command) -> str:
    broker = config.broker
    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except OSError as error:
        return f"cannot reach the broker {broker.host}:{broker.port}: {error}"
    client.loop_start()
    try:
        info = client.publish(codec.topic_for(message), codec.encode(message), qos=QOS_AT_LEAST_ONCE)
        info.wait_for_publish(PUBLISH_TIMEOUT_S)
        if not info.is_published():
            return f"the broker did not acknowledge the command within {PUBLISH_TIMEOUT_S:.0f}s"
        if not reason_is_success(info.rc):
            return f"publish failed: {info.rc}"
        return ""
    except (RuntimeError, ValueError) as error:
        return f"publish failed: {error}"
    finally:
        client.disconnect()
        client.loop_stop()
