"""Write agents, cameras and status periods straight into storage, as the ingest would."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.storage.models import Agent, Camera, CameraStatusChange


def add_agent(session: Session, name: str, regency: str, at: datetime) -> Agent:
    agent = Agent(name=name, regency_code=regency, online=True, presence_since=at, created_at=at)
    session.add(agent)
    return agent


def add_camera(
    session: Session, agent: str, camera_id: str, regency: str, at: datetime, opd: str = ""
) -> Camera:
    camera = Camera(
        agent_name=agent,
        camera_id=camera_id,
        regency_code=regency,
        in_inventory=True,
        first_seen_at=at,
        owner_opd=opd,
        status="ok",
        reason="ok",
        status_since=at,
        updated_at=at,
    )
    session.add(camera)
    session.flush()
    session.add(CameraStatusChange(camera_pk=camera.id, status="ok", reason="ok", started_at=at))
    return camera


def set_status(session: Session, agent: str, camera_id: str, status: str, at: datetime) -> None:
    camera = session.scalars(
        select(Camera).where(Camera.agent_name == agent, Camera.camera_id == camera_id)
    ).one()
    if camera.status == status:
        return
    current = session.scalars(
        select(CameraStatusChange).where(
            CameraStatusChange.camera_pk == camera.id, CameraStatusChange.ended_at.is_(None)
        )
    ).one()
    current.ended_at = at
    current.duration_s = (at - current.started_at).total_seconds()
    reason = "ok" if status == "ok" else "unreachable"
    session.add(CameraStatusChange(camera_pk=camera.id, status=status, reason=reason, started_at=at))
    camera.status, camera.reason, camera.status_since, camera.updated_at = status, reason, at, at
