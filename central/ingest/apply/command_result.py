"""Answers to central's remote commands: the command's record completes, the change feed says how."""

from __future__ import annotations

import logging
from typing import cast

from sqlalchemy import Table, update

from central.ingest.apply.context import Batch
from central.ingest.batch import Accepted
from central.storage.models import CommandRecord, CommandState, EventKind
from central.storage.text import clean_text, json_safe
from central.storage.transitions import event_row
from shared.messages import CommandResult

log = logging.getLogger(__name__)

commands = cast(Table, CommandRecord.__table__)


def apply(batch: Batch, entries: list[Accepted[CommandResult]]) -> None:
    for entry in entries:
        answer = entry.message
        state = CommandState.SUCCEEDED if answer.ok else CommandState.FAILED
        updated = batch.conn.execute(
            update(commands)
            .where(commands.c.command_id == answer.command_id, commands.c.agent_name == answer.agent)
            .values(
                state=state.value,
                completed_at=entry.ts,
                result_ok=answer.ok,
                result_message=clean_text(answer.message),
                result_details=json_safe(dict(answer.details)),
            )
        )
        if updated.rowcount == 0:
            log.info("result for unknown command %s from %s (not sent by this central?)", answer.command_id, answer.agent)
        batch.transitions.events.append(event_row(
            EventKind.COMMAND_RESULT, entry.ts, entry.regency, answer.agent, answer.command_id,
            new=state.value, reason=answer.name.value, message=answer.message,
        ))
