"""Property tests: malformed and hostile messages never crash the writer and are never half-written."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from central.ingest.agents import AgentDirectory
from central.ingest.store import BatchWriter, Received
from central.storage.db import Database
from central.storage.models import Camera, CameraCheck, IngestedMessage, QuarantinedMessage
from tests.central import factories as f

AGENT = "agent-plg"
NOW = f.T0 + dt.timedelta(hours=1)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def mutated_status(draw: Any) -> bytes:
    base = json.loads(f.wire(f.camera_status(AGENT, "cam-1", "ok"))[1])
    key = draw(st.sampled_from([*base.keys(), "extra"]))
    base[key] = draw(json_values)
    return json.dumps(base).encode()


@st.composite
def hostile_payloads(draw: Any) -> tuple[str, bytes]:
    topic = draw(st.sampled_from([
        f"scc/v1/agents/{AGENT}/cameras/cam-1/status", f"scc/v1/agents/{AGENT}/metrics",
        f"scc/v1/agents/{AGENT}/inventory", f"scc/v1/agents/{AGENT}/availability",
        f"scc/v1/agents/{AGENT}/cameras/cam-1/thumbnail", "scc/v1/agents/x/#", "scc/v1/agents/\x00/metrics",
        f"scc/v1/agents/{AGENT}/websites/w1/status", f"scc/v1/agents/{AGENT}/cmd_result",
    ]))
    kind = draw(st.integers(0, 2))
    if kind == 0:
        payload = draw(st.binary(max_size=300))
    elif kind == 1:
        payload = json.dumps(draw(json_values)).encode()
    else:
        payload = mutated_status(draw)
    return topic, payload


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(hostile_payloads(), min_size=1, max_size=6), retained=st.lists(st.booleans(), min_size=6, max_size=6))
def test_hostile_batches_are_quarantined_or_stored_whole(database: Database, batch: list[tuple[str, bytes]],
                                                         retained: list[bool]) -> None:
    writer = BatchWriter(database, AgentDirectory.fixed(f.registry({AGENT: "16.71"})))
    writer.write([Received(*f.wire(f.inventory(AGENT, ["cam-2"], f.T0)), NOW)])  # only an inventory makes a camera
    good = f.camera_status(AGENT, "cam-2", "ok")
    # Some retained, as an agent may publish them: flagged or refused, and listed for clearing, never lost.
    items = [Received(t, p, NOW, retain=r) for (t, p), r in zip(batch, retained, strict=False)]
    items.append(Received(*f.wire(good), NOW))
    with database.session() as session:
        before = (session.scalar(select(func.count()).select_from(CameraCheck)),
                  session.scalar(select(func.max(QuarantinedMessage.id))) or 0)
    result = writer.write(items)
    # Every message is accounted for: stored, duplicate, ignored or quarantined.
    assert result.stored + result.duplicates + result.ignored + result.quarantined == len(items)
    assert result.clear_retained <= {item.topic for item in items if item.retain and item.payload}
    # Only an agent's availability may stay retained; anything else retained is cleared, refused or not.
    assert {item.topic for item in items if item.retain and item.payload and not item.topic.endswith("/availability")
            and "#" not in item.topic and "\x00" not in item.topic} <= result.clear_retained
    assert result.flagged <= sum(item.retain for item in items)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(IngestedMessage).where(
            IngestedMessage.msg_id == good.msg_id)) == 1
        assert session.scalar(select(func.count()).select_from(Camera).where(Camera.camera_id == "cam-2")) == 1
        checks = session.scalar(select(func.count()).select_from(CameraCheck))
        assert checks is not None and checks >= before[0] + 1
