"""Whose clock runs ahead of central's: measured by the vetting, kept on the agent's row for its page and alert.

An agent stamps each message with its own clock; a message cannot have been written after central
received it, so a ts ahead of the receipt measures how far ahead the agent's clock is (network and
queueing only make a message look older). A clock behind cannot be told apart from a backlog drained
late, so only "ahead" is flagged.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import Boolean, Connection, Table, bindparam, case, func, update

from central.storage.models import Agent

agents = cast(Table, Agent.__table__)

_RECORD = (
    update(agents)
    .where(agents.c.name == bindparam("b_name"))
    .values(
        clock_ahead_s=bindparam("b_ahead"),
        clock_off_since=case(
            (bindparam("b_off", type_=Boolean()), func.coalesce(agents.c.clock_off_since, bindparam("b_now"))),
            else_=None,
        ),
    )
)


class AgentClocks:
    """Writes an agent's clock offset when it changes by a second or more (the common case writes nothing)."""

    def __init__(self, flag_after_s: float) -> None:
        self.flag_after_s = flag_after_s
        self._written: dict[str, int] = {}  # agent -> whole seconds ahead last written

    def record(self, conn: Connection, ahead: dict[str, float]) -> None:
        """Store each agent's newest offset (seconds its messages were stamped ahead of their receipt)."""
        now = dt.datetime.now(dt.UTC)
        changed = {name: max(0, int(seconds)) for name, seconds in ahead.items()}
        changed = {name: whole for name, whole in changed.items() if self._written.get(name) != whole}
        if changed:
            conn.execute(_RECORD, [{"b_name": name, "b_ahead": float(whole), "b_off": whole > self.flag_after_s,
                                    "b_now": now} for name, whole in changed.items()])
            self._written.update(changed)

    def forget(self) -> None:
        """After a rolled-back transaction: what was written may not be there."""
        self._written.clear()
