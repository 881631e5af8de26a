"""Camera thumbnails: stored with the camera (one its agent inventoried), only the newest few kept."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, delete, select

from central.ingest.apply.context import Batch
from central.ingest.apply.rows import camera_rows, refuse_uninventoried
from central.ingest.batch import Accepted
from central.storage.models import CameraThumbnail
from shared.messages import CameraThumbnail as ThumbnailMessage

thumbnails = cast(Table, CameraThumbnail.__table__)


def apply(batch: Batch, entries: list[Accepted[ThumbnailMessage]]) -> None:
    conn = batch.conn
    rows = camera_rows(batch, list({(e.message.agent, e.message.camera_id) for e in entries}))
    entries = refuse_uninventoried(batch, entries, rows)
    if not entries:
        return
    conn.execute(
        thumbnails.insert(),
        [
            {
                "camera_pk": rows[(e.message.agent, e.message.camera_id)].id,
                "captured_at": e.message.captured_at,
                "received_at": e.item.received_at,
                "width": e.message.width,
                "height": e.message.height,
                "size_bytes": e.message.size_bytes,
                "sha256": e.message.sha256,
                "jpeg": e.decoded.jpeg,
            }
            for e in entries
        ],
    )
    keep = batch.settings.thumbnails_per_camera
    for pk in {rows[(e.message.agent, e.message.camera_id)].id for e in entries}:
        newest = (
            select(thumbnails.c.id)
            .where(thumbnails.c.camera_pk == pk)
            .order_by(thumbnails.c.captured_at.desc(), thumbnails.c.id.desc())
            .limit(keep)
            .scalar_subquery()
        )
        conn.execute(delete(thumbnails).where(thumbnails.c.camera_pk == pk, thumbnails.c.id.not_in(newest)))
