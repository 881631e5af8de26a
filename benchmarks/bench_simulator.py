"""Benchmark: ``scc-sim --cameras 1000`` start time, memory and idle CPU, plus a sweep proving all cameras serve."""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

from benchmarks.report import write_section
from simulator.descriptors import CameraDescriptor, FleetDescriptor
from simulator.wsse import password_digest

_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_DIGEST_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"


def _soap(operation: str, camera: CameraDescriptor | None) -> bytes:
    header = ""
    if camera is not None:
        nonce = os.urandom(16)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        header = (f'<Security xmlns="{_WSSE}"><UsernameToken><Username>{camera.username}</Username>'
                  f'<Password Type="{_DIGEST_TYPE}">{password_digest(nonce, created, camera.password)}</Password>'
                  f"<Nonce>{base64.b64encode(nonce).decode()}</Nonce>"
                  f'<Created xmlns="{_WSU}">{created}</Created></UsernameToken></Security>')
    return (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>{header}</s:Header>'
            f'<s:Body><{operation} xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>').encode()


def _device_information(camera: CameraDescriptor) -> bool:
    """GetSystemDateAndTime then an authenticated GetDeviceInformation on the camera's own address."""
    connection = http.client.HTTPConnection(camera.host, camera.onvif_port, timeout=10)
    try:
        path = "/" + camera.onvif_xaddr.split("/", 3)[3]
        ok = True
        for body, expected in ((_soap("GetSystemDateAndTime", None), b"UTCDateTime"),
                               (_soap("GetDeviceInformation", camera), camera.serial.encode())):
            connection.request("POST", path, body, {"Content-Type": "application/soap+xml"})
            response = connection.getresponse()
            ok = ok and response.status == 200 and expected in response.read()
        return ok
    finally:
        connection.close()


def _snapshot(camera: CameraDescriptor) -> float:
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, camera.snapshot_url, camera.username, camera.password)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPDigestAuthHandler(manager))
    started = time.perf_counter()
    with opener.open(camera.snapshot_url, timeout=10) as response:
        assert response.read(2) == b"\xff\xd8"
    return time.perf_counter() - started


def _probe_count(fleet: FleetDescriptor, wait: float) -> int:
    probe = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
             'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
             'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
             'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
             '<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>'
             f"<a:MessageID>urn:uuid:bench-{random.randrange(10**9)}</a:MessageID>"
             "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
             "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.bind(("127.0.0.1", 0))
        sock.sendto(probe.encode(), (fleet.host, fleet.discovery_port))
        count, deadline = 0, time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data = sock.recv(65535)
            except TimeoutError:
                break
            count += data.count(b"ProbeMatch>") // 2
        return count


def _stream(camera: CameraDescriptor, seconds: float) -> tuple[float, float, tuple[int, int]]:
    """Seconds to open the RTSP stream with OpenCV, steady frame rate, and frame size.

    The first two seconds are skipped for the rate: ffmpeg hands over the frames it buffered while probing
    in one burst.
    """
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    import cv2

    started = time.perf_counter()
    video = cv2.VideoCapture(camera.rtsp_url_with_credentials, cv2.CAP_FFMPEG)
    opened = time.perf_counter() - started
    steady_frames, size = 0, (0, 0)
    reading_started = time.perf_counter()
    while video.isOpened() and (elapsed := time.perf_counter() - reading_started) < seconds:
        ok, frame = video.read()
        if not ok:
            break
        size = (frame.shape[1], frame.shape[0])
        steady_frames += elapsed >= 2.0
    video.release()
    return opened, steady_frames / (seconds - 2.0), size


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _cpu_percent_over(process: psutil.Process, seconds: float) -> float:
    before = _cpu_seconds(process)
    time.sleep(seconds)
    return (_cpu_seconds(process) - before) / seconds * 100


def measure(cameras: int, idle_seconds: float) -> dict[str, Any]:
    argv = [sys.executable, "-m", "simulator", "--cameras", str(cameras), "--json", "--http-port", "0",
            "--rtsp-port", "0", "--control-port", "0", "--discovery-port", "0"]
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    try:
        fleet = FleetDescriptor.from_json(json.loads(child.stdout.readline()))
        figures: dict[str, Any] = {"command": " ".join(["scc-sim", *argv[3:]]), "start_s": time.perf_counter() - started}
        process = psutil.Process(child.pid)
        time.sleep(1.0)  # let start-up Hello timers and allocations settle before calling it idle
        figures["rss_idle_mib"] = process.memory_info().rss / 2**20
        figures["threads"] = process.num_threads()
        figures["fds"] = process.num_fds()
        figures["idle_cpu_pct"] = _cpu_percent_over(process, idle_seconds)

        sweep_started = time.perf_counter()
        cpu_before = _cpu_seconds(process)
        with ThreadPoolExecutor(16) as pool:
            answered = sum(pool.map(_device_information, fleet.cameras))
        figures["sweep_s"] = time.perf_counter() - sweep_started
        figures["sweep_cpu_s"] = _cpu_seconds(process) - cpu_before
        figures["answered"] = answered

        sample = random.Random(1).sample(fleet.cameras, min(50, len(fleet.cameras)))
        latencies = sorted(_snapshot(camera) for camera in sample)
        figures["snapshot_median_ms"] = latencies[len(latencies) // 2] * 1000
        figures["snapshots"] = len(latencies)
        figures["probe_matches"] = _probe_count(fleet, wait=2.0)

        cpu_before = _cpu_seconds(process)
        stream_started = time.perf_counter()
        opened_s, fps, size = _stream(fleet.cameras[0], seconds=5.0)
        figures["stream_cpu_pct"] = (_cpu_seconds(process) - cpu_before) / (time.perf_counter() - stream_started) * 100
        figures.update(stream_open_s=opened_s, stream_fps=fps, stream_size=size,
                       stream_fps_configured=fleet.cameras[0].fps)
        time.sleep(3.0)  # the stream's pipeline is torn down after the client leaves
        figures["rss_after_mib"] = process.memory_info().rss / 2**20
        figures["idle_cpu_after_pct"] = _cpu_percent_over(process, idle_seconds / 2)
    finally:
        child.terminate()
        figures_exit = child.wait(timeout=60)
    figures["exit_code"] = figures_exit
    return figures


def report(figures: dict[str, Any], cameras: int, idle_seconds: float) -> str:
    return "\n".join([
        f"## Camera simulator: {cameras} cameras in one process",
        "",
        f"Command: `.venv/bin/python -m benchmarks.bench_simulator --cameras {cameras} --idle {idle_seconds:g}` "
        "(also run by `make bench`); it starts "
        f"`{figures['command']}` and measures that process with psutil.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| start, spawn to JSON description printed | {figures['start_s']:.2f} s |",
        f"| RSS idle | {figures['rss_idle_mib']:.0f} MiB ({figures['threads']} threads, {figures['fds']} fds) |",
        f"| idle CPU over {idle_seconds:g} s | {figures['idle_cpu_pct']:.2f}% of one core |",
        f"| ONVIF sweep: GetSystemDateAndTime + authenticated GetDeviceInformation on every camera's own "
        f"address, 16 clients | {figures['answered']}/{cameras} answered in {figures['sweep_s']:.1f} s "
        f"({figures['sweep_cpu_s']:.1f} s simulator CPU) |",
        f"| digest-auth JPEG snapshot, median of {figures['snapshots']} cameras | "
        f"{figures['snapshot_median_ms']:.0f} ms |",
        f"| unicast WS-Discovery Probe, ProbeMatches within 2 s | {figures['probe_matches']}/{cameras} |",
        f"| one RTSP stream in OpenCV: open / steady frame rate / size | {figures['stream_open_s']:.1f} s / "
        f"{figures['stream_fps']:.1f} fps ({figures['stream_fps_configured']:g} configured) / "
        f"{figures['stream_size'][0]}x{figures['stream_size'][1]} |",
        f"| simulator CPU while that stream plays | {figures['stream_cpu_pct']:.0f}% of one core |",
        f"| RSS after all of the above / idle CPU after | {figures['rss_after_mib']:.0f} MiB / "
        f"{figures['idle_cpu_after_pct']:.2f}% |",
        f"| exit code after SIGTERM (Bye sent) | {figures['exit_code']} |",
        "",
        "Idle is cheap because nothing per camera runs until asked: RTSP media are built on the first DESCRIBE "
        "and torn down after the last viewer, scene backgrounds are rendered on demand into a small LRU cache, "
        "and JPEGs are encoded per request. Each camera costs one listening socket (its own 127.20.x.y "
        "address) and a mount point. Opening a stream takes ~1-3 s because ffmpeg probes ~20 frames first.",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds to measure idle CPU over")
    parser.add_argument("--no-write", action="store_true", help="print the figures without editing the doc")
    args = parser.parse_args()
    figures = measure(args.cameras, args.idle)
    text = report(figures, args.cameras, args.idle)
    print(text)
    if not args.no_write:
        write_section("simulator", text)
    return 0 if figures["exit_code"] == 0 and figures["answered"] == args.cameras else 1


if __name__ == "__main__":
    sys.exit(main())
