"""Render the Mosquitto 2.0 configuration (TLS-only listener, limits, persistence) and its ACL file."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from provisioning.ca import Role
from provisioning.layout import Layout
from provisioning.registry import IssuedCert
from shared import topics
from shared.codec import MAX_PAYLOAD_BYTES
from shared.mqtt import identity_name, ingest_worker_purpose

DEFAULT_PORT = 8883
# Central's own certificate: the ingest (worker 0); its siblings are named identity_name(CENTRAL_NAME, purpose).
CENTRAL_NAME = "central"


# max_packet_size bounds the whole MQTT packet, not just the payload: leave room for the fixed header, the
# topic (at most a few hundred bytes here) and MQTT v5 properties, so a payload at the codec's limit passes.
PACKET_OVERHEAD_BYTES = 64 * 1024
MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + PACKET_OVERHEAD_BYTES

# Mosquitto queues QoS 1/2 messages per client while that client is offline (persistent session) or its
# in-flight window is full, and silently drops past max_queued_messages (default 1000: under two minutes of
# one regency). Size the queue for a day of one regency's reports:
#   cameras:  600 cameras x 1 status/min x 1440 min   = 864,000
#   websites: 200 sites   x 1 check/5 min x 288        =  57,600
#   metrics, availability, inventory: ~1/min x 1440     =   1,440 (+ a few)
#   total                                              ~= 923,000 -> 1,000,000
# Central's ingest session receives every regency, so this same queue covers about 80 minutes of the whole
# province (17 x ~640/min): long enough for a central restart or upgrade. Longer outages of the central
# side are the edge agents' store-and-forward job, not the broker's memory.
MAX_QUEUED_MESSAGES = 1_000_000
# Queued payloads live in the broker's RAM; a status report is ~0.5 KiB, so a full queue of them is ~0.5 GiB.
# The byte cap (per client, like the message cap) stops a flood of thumbnails (up to MAX_PAYLOAD_BYTES each)
# from exhausting memory first; MEMORY_LIMIT_BYTES below caps the sum over all clients.
MAX_QUEUED_BYTES = 1024 * 1024 * 1024
# In-flight window for QoS 1/2. Mosquitto 2.0 uses it (a) as the outgoing window of MQTT v3.x clients and
# (b) as the Receive Maximum its CONNACK announces to v5 clients, i.e. how many of their own publishes may be
# unacknowledged. It does NOT cap what the broker sends a v5 subscriber: the client's CONNECT Receive Maximum
# replaces it (verified on 2.0.11: a v5 subscriber asking for 1000 gets 1000 unacknowledged messages with
# this set to 100), so central's ingest window is its own ingest.receive_maximum. 1000 matches the highest
# window an agent may configure (outbox.max_inflight), so an agent replaying a backlog over a slow link is
# never told to use less than it asked for; a v3 reader's window is far from the broker's memory limits.
MAX_INFLIGHT_MESSAGES = 1000
# A hard cap on the broker's heap, so no client can take the central box's memory. Mosquitto 2.0.11 cannot
# refuse a retained message per topic (its ACL file has no retain rule; only a C plugin could), so an agent
# may retain messages under its own subtree, up to max_packet_size each, on as many topics as it likes:
# measured, 300 retained 1 MB messages took the broker from 19 MB to 375 MB. Central's ingest clears what
# the contract does not let an agent retain (central/ingest/retention.py), as it comes, at each start, and
# on the live-view tree every 30 s, so this limit is what holds while the ingest is down. Past it
# the broker refuses the allocation and disconnects the client whose message needed it, instead of the
# kernel's OOM killer ending the broker or central. The legitimate peak is the ingest's queue (MAX_QUEUED_BYTES) during a
# central outage plus the retained public state (tens of MB) and connections: a box for central needs
# this much RAM free for the broker. tests/provisioning/test_broker_access.py floods a broker with it.
MEMORY_LIMIT_BYTES = MAX_QUEUED_BYTES + 512 * 1024 * 1024
# Save the in-memory state every 30 s as well as on clean shutdown. Reports do not depend on it: an agent
# keeps each one until central confirms storing it and sends again what a crashed broker lost. What a crash
# would otherwise take is the rest of the state: sessions and their subscriptions (central's confirmations
# queued for an offline agent), retained births and public topics. A save writes the whole database, queue
# included, so it is time-based, not per change (autosave_on_changes would rewrite a growing queue every N
# messages while the ingest is down); measured in docs/performance.md (broker autosave).
AUTOSAVE_INTERVAL_SECONDS = 30
# Sessions of clients gone this long (a decommissioned agent) are dropped with their queues.
PERSISTENT_CLIENT_EXPIRATION = "14d"


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """The parts of mosquitto.conf that differ between a production install and a test broker."""

    port: int = DEFAULT_PORT
    persistence_dir: Path | None = None  # None: <dir>/broker/persistence
    log_file: Path | None = None  # None: stderr, which systemd puts in the journal
    memory_limit: int = MEMORY_LIMIT_BYTES


def render_mosquitto_conf(layout: Layout, settings: BrokerSettings) -> str:
    """A complete mosquitto.conf (not a conf.d snippet): run it with ``mosquitto -c <file>``."""
    persistence_dir = settings.persistence_dir or layout.default_persistence_dir
    log_dest = f"file {settings.log_file}" if settings.log_file is not None else "stderr"
    return f"""\
# Generated by scc-provision. Regenerate it rather than editing it: 'scc-provision init' owns this file.
# Complete configuration for the SCC broker: start it as 'mosquitto -c {layout.mosquitto_conf}'.

# One listener, so global settings are the listener's; keeping them global also means a listener added
# later inherits allow_anonymous false and the ACL instead of silently running open.
per_listener_settings false
allow_anonymous false
acl_file {layout.acl_file}

persistence true
persistence_location {persistence_dir}/
autosave_interval {AUTOSAVE_INTERVAL_SECONDS}
persistent_client_expiration {PERSISTENT_CLIENT_EXPIRATION}

# Limits: see provisioning/broker.py for the arithmetic behind each number.
max_queued_messages {MAX_QUEUED_MESSAGES}
max_queued_bytes {MAX_QUEUED_BYTES}
max_inflight_messages {MAX_INFLIGHT_MESSAGES}
max_packet_size {MAX_PACKET_BYTES}
queue_qos0_messages false
memory_limit {settings.memory_limit}

log_dest {log_dest}
log_type error
log_type warning
log_type notice
log_type information
log_timestamp true
log_timestamp_format %Y-%m-%dT%H:%M:%S
connection_messages true

# TLS only, and only clients holding a certificate from the SCC CA that is not on the CRL. The CN becomes
# the MQTT username that the ACL's %u patterns and user blocks match.
listener {settings.port}
protocol mqtt
cafile {layout.ca_cert}
certfile {layout.broker_cert}
keyfile {layout.broker_key}
crlfile {layout.crl}
require_certificate true
use_identity_as_username true
# The username (the CN) is also the client id, whatever id the client sends: a certificate can only
# resume or replace its own session, never take another client's (central's ingest, another agent).
use_username_as_clientid true
"""


def _agent_report_topics(agent: str) -> list[str]:
    """The topics an agent reports on, under agents/ (what central's ingest reads)."""
    return [
        topics.availability(agent),
        topics.metrics(agent),
        topics.inventory(agent),
        topics.camera_status(agent, "+"),
        topics.camera_thumbnail(agent, "+"),
        topics.website_status(agent, "+"),
        topics.command_result(agent),
    ]


def _agent_write_topics() -> list[str]:
    agent = "%u"  # Mosquitto substitutes the connecting client's username (its certificate CN)
    return [*_agent_report_topics(agent), topics.live_frames(agent, "+")]


# ingest_worker_purpose(k) ends in k: "central-ingest-" followed by a worker number from 1.
_INGEST_WORKER_NAME = re.compile(
    re.escape(identity_name(CENTRAL_NAME, ingest_worker_purpose(1)).removesuffix("1")) + "[1-9][0-9]*"
)


def is_ingest_identity(name: str) -> bool:
    """Whether ``name`` is one of the ingest workers' certificates: ``central`` and ``central-ingest-k``."""
    return name == CENTRAL_NAME or _INGEST_WORKER_NAME.fullmatch(name) is not None


def render_acl(certificates: Iterable[IssuedCert]) -> str:
    """The ACL: agent patterns, then an explicit block for central and for each current reader.

    Pattern lines apply to every user, so central and readers also match them. Names are unique across
    roles, so their CNs never name a real agent's subtree; and Mosquitto checks ``deny`` lines before any
    grant, patterns included, so central's block denies the pattern subtree under its own name and each
    reader's block denies the whole agents' tree: neither can pose as an agent.
    """
    current = [cert for cert in certificates if not cert.revoked]
    lines = [
        "# Generated by scc-provision from registry.json; regenerated on every issue and revoke.",
        "# Agents (every client; %u is the certificate CN): publish only their own reports, and read only",
        "# their own commands and central's confirmations of their reports. Not the whole subtree: an agent",
        "# must never publish its own cmd topics, nor confirm its own reports.",
    ]
    lines += [f"pattern write {topic}" for topic in _agent_write_topics()]
    lines.append(f"pattern read {topics.command_subscription('%u')}")
    lines.append(f"pattern read {topics.confirmations('%u')}")
    lines.append("")
    for cert in current:
        if cert.role is Role.CENTRAL:
            lines += [
                "# Central's ingest: reads every agent, commands agents, confirms their reports, publishes the",
                "# public tree.",
                f"user {cert.name}",
                # The agent patterns match central's CN too: deny the subtree they would open to it.
                f"topic deny {topics.agent_prefix(cert.name)}/#",
                f"topic deny {topics.live_frames(cert.name, '#')}",
                f"topic read {topics.ALL_AGENT_TOPICS}",
                # The web processes of open live views read the frames of the cameras being watched.
                f"topic read {topics.LIVE}/#",
                f"topic write {topics.command_subscription('+')}",
                f"topic write {topics.confirmations('+')}",
                f"topic write {topics.ALL_PUBLIC_TOPICS}",
            ]
            if is_ingest_identity(cert.name):
                lines += [
                    "# The ingest clears what an agent retained against the contract: an empty retained message",
                    "# on the topic (central/ingest/retention.py). Any report topic of any agent may hold one (a",
                    "# refused retained availability too), and the ACL cannot grant 'empty retained only', so the",
                    "# ingest may write them all; it already is the one that reads and trusts them. The live tree",
                    "# too, which it sweeps for retained frames. Only the ingest: the command sender, alerts and",
                    "# the live relay never get it.",
                ]
                lines += [f"topic write {topic}" for topic in _agent_report_topics("+")]
                lines.append(f"topic write {topics.live_frames('+', '+')}")
            lines.append("")
    for cert in current:
        if cert.role is Role.READER:
            lines += [
                "# Third-party reader: the public tree only.",
                f"user {cert.name}",
                f"topic deny {topics.ALL_AGENT_TOPICS}",
                f"topic deny {topics.LIVE}/#",
                f"topic read {topics.ALL_PUBLIC_TOPICS}",
                "",
            ]
    return "\n".join(lines) + "\n"
