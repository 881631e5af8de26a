"""Fixtures shared by every test package: each area's fixtures live in tests/fixtures/, imported here."""

from tests.fixtures.broker import *  # noqa: F403
from tests.fixtures.database import *  # noqa: F403
from tests.scheduling import (  # noqa: F401  (xdist groups applied, the soak first: see tests/scheduling.py)
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_unconfigure,
    pytest_xdist_make_scheduler,
)
