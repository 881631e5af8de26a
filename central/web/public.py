"""The optional read-only public status page (``web.public_status``): regency rollups, no names, no login."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template
from flask.typing import ResponseReturnValue

from central.web import cartogram
from central.web.province import province_rollup

bp = Blueprint("public", __name__)


@bp.route("/status")
def status() -> ResponseReturnValue:
    if not current_app.config["PUBLIC_STATUS"]:
        abort(404)
    return render_template(
        "public.html", rollup=province_rollup(), tiles=cartogram.tiles(), view_box=cartogram.view_box()
    )
