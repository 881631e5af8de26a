"""Fair batching: messages wait in one queue per agent, and batches are filled from the queues in turn.

Without it a batch takes messages in arrival order, so one agent's flood (thousands of reports, or
dozens of inventories of thousands of cameras each) fills batch after batch while another regency's
report waits behind all of it. Here each agent with messages waiting gives one message per round, in
its own arrival order (an inventory still precedes the reports about its cameras), until the batch
is full; and an agent gives at most one inventory per batch, the message whose cost grows with the
number of cameras. So a batch holds, per agent, at most one inventory and an equal share of the
rest: a quiet agent's report goes into the next batch written, however much another agent sends.
The next batch starts with a different agent, so no agent is always first.

Only the worker's thread uses this; the network thread hands messages over through the worker's inbox.
"""

from __future__ import annotations

from collections import OrderedDict, deque

from central.ingest.batch import Received

_AGENTS_PREFIX = "scc/v1/agents/"


def sender(topic: str) -> tuple[str, bool]:
    """(the agent a topic names, whether it is the agent's inventory); ("", False) for any other topic."""
    if not topic.startswith(_AGENTS_PREFIX):
        return "", False
    parts = topic.split("/", 5)
    return (parts[3], len(parts) == 5 and parts[4] == "inventory") if len(parts) > 4 else (parts[3], False)


class FairQueue:
    """Per-agent FIFO queues; :meth:`take` fills a batch from them in turn."""

    def __init__(self) -> None:
        self._queues: OrderedDict[str, deque[Received]] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def put(self, item: Received) -> None:
        agent = sender(item.topic)[0]
        queue = self._queues.get(agent)
        if queue is None:
            queue = self._queues[agent] = deque()
        queue.append(item)
        self._count += 1

    def take(self, max_messages: int, max_bytes: int) -> list[Received]:
        """Up to ``max_messages`` messages and about ``max_bytes`` (at least one message), fairly shared."""
        batch: list[Received] = []
        size = 0
        gave_inventory: set[str] = set()
        turn = list(self._queues)
        while turn and len(batch) < max_messages and size < max_bytes:
            still: list[str] = []
            for agent in turn:
                queue = self._queues[agent]
                item = queue[0]
                if sender(item.topic)[1]:
                    if agent in gave_inventory:
                        continue  # its next inventory waits for the next batch (and so do its later messages)
                    gave_inventory.add(agent)
                queue.popleft()
                batch.append(item)
                size += len(item.payload)
                if queue:
                    still.append(agent)
                else:
                    del self._queues[agent]
                if len(batch) >= max_messages or size >= max_bytes:
                    break
            turn = still
        self._count -= len(batch)
        if self._queues:
            self._queues.move_to_end(next(iter(self._queues)))  # the next batch starts with another agent
        return batch
