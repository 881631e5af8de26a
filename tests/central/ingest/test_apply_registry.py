"""The ingest's kind -> handler table covers every message an agent may send, and nothing else."""

from __future__ import annotations

from central.ingest.apply.registry import HANDLERS
from shared.codec import CHANNEL_MODELS
from shared.messages import Command, Envelope


def test_every_agent_message_kind_has_a_handler() -> None:
    from_agents = {
        model for models in CHANNEL_MODELS.values() for model in models
        if issubclass(model, Envelope) and model is not Command  # central's own commands, echoed back: ignored
    }
    assert set(HANDLERS) == from_agents
