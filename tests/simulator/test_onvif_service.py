"""The simulator's ONVIF service as a third-party client sees it: the real onvif-zeep-async ONVIFCamera against it
(data, URIs, auth and SOAP faults). The agent's own client is tested in tests/edge_agent/test_onvif_client.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import zeep.exceptions
from lxml import etree
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFError

from simulator.camera import HOSTILE_TEXT
from simulator.descriptors import CameraDescriptor
from simulator.testing import FleetClient

NS_TER = "http://www.onvif.org/ver10/error"
NS_ENV = "http://www.w3.org/2003/05/soap-envelope"


def with_camera(descriptor: CameraDescriptor, action: Callable[[ONVIFCamera], Awaitable[Any]],
                password: str | None = None, adjust_time: bool = False) -> Any:
    async def run() -> Any:
        camera = ONVIFCamera(descriptor.host, descriptor.onvif_port, descriptor.username,
                             password if password is not None else descriptor.password, adjust_time=adjust_time)
        try:
            return await action(camera)
        finally:
            await camera.close()

    return asyncio.run(run())


def test_reads_device_information_profiles_and_uris(behaviour_fleet: FleetClient) -> None:
    descriptor = behaviour_fleet.camera("cam0001")

    async def read(camera: ONVIFCamera) -> dict[str, Any]:
        await camera.update_xaddrs()
        device = await camera.create_devicemgmt_service()
        media = await camera.create_media_service()
        profiles = await media.GetProfiles()
        token = profiles[0].token
        stream = await media.GetStreamUri({"ProfileToken": token, "StreamSetup": {
            "Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}})
        return {
            "xaddrs": dict(camera.xaddrs),
            "info": await device.GetDeviceInformation(),
            "interfaces": await device.GetNetworkInterfaces(),
            "scopes": [scope.ScopeItem for scope in await device.GetScopes()],
            "profiles": profiles,
            "stream": stream.Uri,
            "snapshot_uri": await camera.get_snapshot_uri(token),
            "snapshot": await camera.get_snapshot(token),
        }

    result = with_camera(descriptor, read)
    assert result["xaddrs"]["http://www.onvif.org/ver10/media/wsdl"] == descriptor.media_xaddr
    info = result["info"]
    assert (info.Manufacturer, info.Model, info.FirmwareVersion, info.SerialNumber) == (
        descriptor.manufacturer, descriptor.model, descriptor.firmware, descriptor.serial)
    assert result["interfaces"][0].Info.HwAddress == descriptor.mac
    assert result["interfaces"][0].IPv4.Config.Manual[0].Address == descriptor.host
    assert any("/name/" in scope for scope in result["scopes"])
    resolution = result["profiles"][0].VideoEncoderConfiguration.Resolution
    assert (resolution.Width, resolution.Height) == descriptor.resolution
    assert result["stream"] == descriptor.rtsp_url
    assert result["snapshot_uri"] == descriptor.snapshot_url
    assert result["snapshot"][:2] == b"\xff\xd8"  # fetched with aiohttp's digest auth


def test_a_sub_stream_profile_at_half_the_size_beside_the_main_one(behaviour_fleet: FleetClient) -> None:
    descriptor = behaviour_fleet.camera("cam0001")

    async def read(camera: ONVIFCamera) -> list[tuple[str, int, int, str]]:
        await camera.update_xaddrs()
        media = await camera.create_media_service()
        found = []
        for profile in await media.GetProfiles():
            stream = await media.GetStreamUri({"ProfileToken": profile.token, "StreamSetup": {
                "Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}})
            resolution = profile.VideoEncoderConfiguration.Resolution
            found.append((profile.token, resolution.Width, resolution.Height, stream.Uri))
        return found

    width, height = descriptor.resolution
    assert with_camera(descriptor, read) == [
        ("Profile_1", width, height, descriptor.rtsp_url),
        ("Profile_2", width // 2, height // 2, descriptor.rtsp_url + "/sub"),
    ]


def test_each_camera_has_its_own_identity(behaviour_fleet: FleetClient) -> None:
    cameras = behaviour_fleet.cameras
    for field in ("serial", "mac", "endpoint_reference", "name", "host"):
        assert len({getattr(camera, field) for camera in cameras}) == len(cameras), field


def test_path_addressed_service_works_on_the_shared_address(behaviour_fleet: FleetClient) -> None:
    """Clients following WS-Discovery XAddrs may use /onvif/<id>/device_service on the shared host."""
    descriptor = behaviour_fleet.camera("cam0001")
    host = f"http://{behaviour_fleet.descriptor.host}"

    async def read(camera: ONVIFCamera) -> Any:
        camera.xaddrs["http://www.onvif.org/ver10/device/wsdl"] = None
        service = await camera.create_onvif_service("devicemgmt")
        service.xaddr = f"{host}:{descriptor.onvif_port}/onvif/{descriptor.id}/device_service"
        service.ws_client = service.zeep_client.create_service(service.binding_name, service.xaddr)
        return await service.GetDeviceInformation()

    assert with_camera(descriptor, read).SerialNumber == descriptor.serial


def _fault_of(excinfo: pytest.ExceptionInfo[BaseException]) -> zeep.exceptions.Fault:
    error = excinfo.value
    while not isinstance(error, zeep.exceptions.Fault) and error.__cause__ is not None:
        error = error.__cause__
    assert isinstance(error, zeep.exceptions.Fault), repr(excinfo.value)
    return error


def test_wrong_credentials_give_sender_not_authorized(behaviour_fleet: FleetClient) -> None:
    descriptor = behaviour_fleet.camera("cam0002")

    async def read(camera: ONVIFCamera) -> Any:
        device = await camera.create_devicemgmt_service()
        return await device.GetDeviceInformation()

    with pytest.raises((zeep.exceptions.Fault, ONVIFError)) as excinfo:
        with_camera(descriptor, read)
    fault = _fault_of(excinfo)
    assert fault.message == "Sender not Authorized"
    assert etree.QName(NS_ENV, "Sender").text in str(fault.code) or fault.code.endswith("Sender")
    assert fault.subcodes is not None
    assert [(code.namespace, code.localname) for code in fault.subcodes] == [(NS_TER, "NotAuthorized")]


def test_system_date_and_time_needs_no_auth_even_with_wrong_credentials(behaviour_fleet: FleetClient) -> None:
    async def read(camera: ONVIFCamera) -> Any:
        device = await camera.create_devicemgmt_service()
        return await device.GetSystemDateAndTime()

    result = with_camera(behaviour_fleet.camera("cam0002"), read, password="not-the-password")
    assert result.UTCDateTime.Date.Year >= 2024


def _camera_clock(descriptor: CameraDescriptor) -> float:
    async def read(camera: ONVIFCamera) -> Any:
        device = await camera.create_devicemgmt_service()
        return await device.GetSystemDateAndTime()

    utc = with_camera(descriptor, read).UTCDateTime
    return time.mktime((utc.Date.Year, utc.Date.Month, utc.Date.Day, utc.Time.Hour, utc.Time.Minute,
                        utc.Time.Second, 0, 0, 0)) - time.timezone


def test_clock_wrong_camera_checks_digests_against_its_own_clock(behaviour_fleet: FleetClient) -> None:
    descriptor = behaviour_fleet.camera("cam0003")
    assert abs(_camera_clock(descriptor) - time.time() - 5 * 3600) < 5

    async def read(camera: ONVIFCamera) -> Any:
        await camera.update_xaddrs()
        device = await camera.create_devicemgmt_service()
        return await device.GetDeviceInformation()

    # adjust_time=True: the client signs its token with the camera's clock (from GetSystemDateAndTime).
    assert with_camera(descriptor, read, adjust_time=True).SerialNumber == descriptor.serial
    # A token signed with the true time is five hours off the camera's clock: refused.
    with pytest.raises((zeep.exceptions.Fault, ONVIFError)) as excinfo:
        with_camera(descriptor, read, adjust_time=False)
    assert _fault_of(excinfo).message == "Sender not Authorized"


def test_hostile_strings_arrive_intact_and_escaped(behaviour_fleet: FleetClient) -> None:
    async def read(camera: ONVIFCamera) -> Any:
        device = await camera.create_devicemgmt_service()
        return await device.GetDeviceInformation(), await device.GetScopes()

    info, scopes = with_camera(behaviour_fleet.camera("cam0004"), read)
    assert HOSTILE_TEXT in info.Manufacturer and "<b>" in info.Model
    name_scope = next(scope.ScopeItem for scope in scopes if "/name/" in scope.ScopeItem)
    assert len(name_scope) > 10_000


def test_malformed_soap_breaks_the_client_parser(behaviour_fleet: FleetClient) -> None:
    async def read(camera: ONVIFCamera) -> Any:
        device = await camera.create_devicemgmt_service()
        return await device.GetDeviceInformation()

    # zeep parses leniently, so what breaks is the client's handling, not a clean SOAP fault.
    with pytest.raises(Exception) as excinfo:
        with_camera(behaviour_fleet.camera("cam0005"), read)
    assert not isinstance(excinfo.value, zeep.exceptions.Fault)


def test_onvif_dead_and_offline_cameras_do_not_answer_soap(behaviour_fleet: FleetClient) -> None:
    async def read(camera: ONVIFCamera) -> Any:
        device = await camera.create_devicemgmt_service()
        return await device.GetSystemDateAndTime()

    for camera_id in ("cam0006", "cam0007"):
        with pytest.raises(Exception):  # noqa: B017 - transport errors differ by fault; any failure will do
            with_camera(behaviour_fleet.camera(camera_id), read)


def test_slow_camera_answers_late(behaviour_fleet: FleetClient) -> None:
    async def read(camera: ONVIFCamera) -> Any:
        device = await camera.create_devicemgmt_service()
        started = time.monotonic()
        await device.GetSystemDateAndTime()
        return time.monotonic() - started

    assert with_camera(behaviour_fleet.camera("cam0010"), read) >= 1.0
    assert with_camera(behaviour_fleet.camera("cam0001"), read) < 1.0


def test_credentials_changed_at_run_time_then_restored(behaviour_fleet: FleetClient) -> None:
    async def read(camera: ONVIFCamera) -> Any:
        device = await camera.create_devicemgmt_service()
        return await device.GetDeviceInformation()

    descriptor = behaviour_fleet.camera("cam0001")
    behaviour_fleet.set_fault("cam0001", "wrong_credentials", "installer-changed-it")
    try:
        with pytest.raises((zeep.exceptions.Fault, ONVIFError)) as excinfo:
            with_camera(descriptor, read)
        assert _fault_of(excinfo).message == "Sender not Authorized"
        assert with_camera(descriptor, read, password="installer-changed-it").SerialNumber == descriptor.serial
    finally:
        behaviour_fleet.clear("cam0001")
    assert with_camera(descriptor, read).SerialNumber == descriptor.serial
