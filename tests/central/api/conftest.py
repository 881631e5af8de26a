"""The API's tests use the web app's fixtures (a seeded database, an app, logged-in clients)."""

from tests.central.web.conftest import admin, app, client, seeded, viewer, web_database  # noqa: F401
