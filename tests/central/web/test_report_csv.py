"""A downloaded report CSV carries hostile camera names as text, never as a spreadsheet formula."""

from __future__ import annotations

import csv
import io

from flask.testing import FlaskClient
from sqlalchemy import update

from central.storage.db import Database
from central.storage.models import Camera
from shared.messages import utc_now
from tests.central.web.seed import Seeded


def test_downloaded_csv_neutralises_formulas(
    admin: FlaskClient, web_database: Database, seeded: Seeded
) -> None:
    with web_database.session(write=True) as session:
        session.execute(
            update(Camera)
            .where(Camera.id == seeded.first_camera_pk)
            .values(display_name='=HYPERLINK("x")', owner_opd="@SUM(1)")
        )
    slug = utc_now().strftime("%Y-%m")
    response = admin.get(f"/reports/{slug}.csv?table=camera")
    assert response.status_code == 200
    cells = [c for row in csv.reader(io.StringIO(response.data.decode("utf-8-sig"))) for c in row]
    assert '\'=HYPERLINK("x")' in cells and "'@SUM(1)" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
