"""How `pytest -n 2 --dist loadgroup` hands out the suite: by xdist_group, the longest unit first.

Groups. With pytest 9.2 and xdist 3.8, xdist's way of telling its scheduler a test's group (an
``@group`` suffix written into ``item._nodeid``) no longer reaches the node id
(pytest-dev/pytest-xdist#1386): every test became a unit of its own, so tests meant to share a worker
did not, and a module's module-scoped fixtures (browsers, gunicorn farms, installed prefixes) were
built once on each worker. Here the workers write each grouped test's group to a file the controller
named, and the scheduler reads it; where xdist's suffix works, it is used as before.

Order. loadgroup hands units out largest first by number of tests, which put the short soak (two
tests, three minutes) half-way through, where it could be the last thing running with one core idle.
The units in LONG_FIRST go out first instead, so they overlap the rest of the suite.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadGroupScheduling
from xdist.workermanage import WorkerController

# Units that run far longer than their test count says, longest first: a group's name, or a node id
# prefix for a test in no group.
LONG_FIRST = ("soak",)
GROUPS_DIR_ENV = "SCC_TEST_XDIST_GROUPS"  # set by the controller, inherited by the workers
_GROUPS_DIR = pytest.StashKey[Path]()


def is_long(scope: str) -> bool:
    return any(scope == name or scope.startswith(name) for name in LONG_FIRST)


def group_of(item: pytest.Item) -> str | None:
    """The item's xdist group as xdist names it (several groups joined with "_"), or None."""
    names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
    return "_".join(sorted(names)) if names else None


class GroupedLongestFirst(LoadGroupScheduling):
    """loadgroup with its groups applied (from the workers' files) and LONG_FIRST's units out first."""

    def __init__(self, config: pytest.Config, log: Any, groups_dir: Path) -> None:
        super().__init__(config, log)
        self._groups_dir = groups_dir
        self._groups: dict[str, str] | None = None
        self._reordered = False

    def _split_scope(self, nodeid: str) -> str:
        scope = super()._split_scope(nodeid)
        if scope != nodeid:  # xdist's own suffix worked
            return scope
        if self._groups is None:  # every worker has written its file before the collections are compared
            self._groups = {}
            for path in sorted(self._groups_dir.glob("*.json")):
                self._groups.update(json.loads(path.read_text(encoding="utf-8")))
        return self._groups.get(nodeid, nodeid)

    def _assign_work_unit(self, node: WorkerController) -> None:
        if not self._reordered:  # the queue is complete by the first assignment
            for scope in reversed([scope for scope in self.workqueue if is_long(scope)]):
                self.workqueue.move_to_end(scope, last=False)
            self._reordered = True
        super()._assign_work_unit(node)


def pytest_configure(config: pytest.Config) -> None:
    if config.getvalue("dist") == "loadgroup" and not hasattr(config, "workerinput"):
        groups_dir = Path(tempfile.mkdtemp(prefix="scc-xdist-groups-"))
        os.environ[GROUPS_DIR_ENV] = str(groups_dir)  # before the workers are started (at session start)
        config.stash[_GROUPS_DIR] = groups_dir


def pytest_unconfigure(config: pytest.Config) -> None:
    groups_dir = config.stash.get(_GROUPS_DIR, None)
    if groups_dir is not None:
        for path in groups_dir.glob("*"):
            path.unlink()
        groups_dir.rmdir()
        os.environ.pop(GROUPS_DIR_ENV, None)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a worker: write each grouped test's group for the controller's scheduler."""
    worker = getattr(config, "workerinput", {}).get("workerid")
    groups_dir = os.environ.get(GROUPS_DIR_ENV)
    if worker is None or groups_dir is None:
        return
    groups = {item.nodeid: group for item in items if (group := group_of(item)) is not None}
    path = Path(groups_dir) / f"{worker}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(groups), encoding="utf-8")
    partial.rename(path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadGroupScheduling | None:
    """Ours for --dist loadgroup; any other mode is xdist's own (None lets its hook answer)."""
    groups_dir = config.stash.get(_GROUPS_DIR, None)
    if config.getvalue("dist") != "loadgroup" or groups_dir is None:
        return None
    return GroupedLongestFirst(config, log, groups_dir)

