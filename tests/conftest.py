"""Fixtures shared by every test package: each area's fixtures live in tests/fixtures/, imported here."""

from tests.fixtures.broker import *  # noqa: F403
from tests.fixtures.database import *  # noqa: F403
from tests.scheduling import pytest_xdist_make_scheduler  # noqa: F401  (the soak starts first under xdist)
