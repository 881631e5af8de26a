"""The order in which `pytest -n 2 --dist loadgroup` hands out its work: the longest unit first.

xdist's loadgroup hands out work units (an ``xdist_group``, or a lone test) largest first by number of
tests, so the short soak (two tests, four minutes) would start half-way through and could be the last
thing running, one core idle. Started first, it overlaps the rest of the suite on the other worker.

On pytest 9.2 with xdist 3.8 the group suffix xdist writes into node ids no longer takes
(pytest-dev/pytest-xdist#1386): every test is a unit of its own and the soak is found by its node id.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadGroupScheduling
from xdist.workermanage import WorkerController

# Units that run far longer than their test count says, longest first: a group's name (its unit while
# grouping works) or a node id prefix (the tests' own units while it does not).
LONG_FIRST = ("soak", "tests/benchmarks/soak/test_soak_run.py::test_a_short_soak")


def is_long(scope: str) -> bool:
    return any(scope == name or scope.startswith(name) for name in LONG_FIRST)


class LongestFirst(LoadGroupScheduling):
    """loadgroup, except that the units matching LONG_FIRST go out before any other."""

    _reordered = False

    def _assign_work_unit(self, node: WorkerController) -> None:
        if not self._reordered:  # the queue is complete by the first assignment
            for scope in reversed([scope for scope in self.workqueue if is_long(scope)]):
                self.workqueue.move_to_end(scope, last=False)
            self._reordered = True
        super()._assign_work_unit(node)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadGroupScheduling | None:
    """Ours for --dist loadgroup; any other mode is xdist's own (None lets its hook answer)."""
    return LongestFirst(config, log) if config.getvalue("dist") == "loadgroup" else None
