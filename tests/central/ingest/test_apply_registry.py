"""The ingest's kind -> handler table covers every message an agent may send it, and nothing else."""

from __future__ import annotations

from central.ingest.apply.registry import HANDLERS
from shared.codec import CHANNEL_MODELS
from shared.messages import Command, Envelope
from shared.topics import Channel

# Sent by agents but never to the ingest: live frames go to the live relay on scc/v1/live/..., outside
# the agents/# subtree the ingest subscribes to (docs/live-view.md).
NOT_INGESTED = {Channel.LIVE_FRAME}


def test_every_agent_message_kind_has_a_handler() -> None:
    from_agents = {
        model for channel, models in CHANNEL_MODELS.items() if channel not in NOT_INGESTED for model in models
        if issubclass(model, Envelope) and model is not Command  # central's own commands, echoed back: ignored
    }  # fmt: skip
    assert set(HANDLERS) == from_agents


def test_the_ingest_never_subscribes_where_live_frames_go() -> None:
    from shared import topics

    assert not topics.live_frames("agent-x", "cam1").startswith(topics.AGENTS + "/")
