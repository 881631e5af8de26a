"""MemoryDenyWriteExecute=yes in our units is safe: the agent's and central's libraries work without W+X pages."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# The kernel's PR_SET_MDWE (Linux 6.3+) refuses W+X mappings like systemd's seccomp filter does, so a
# child process under it shows whether OpenCV's FFmpeg, numpy, libffi and friends still work.
PROBE = textwrap.dedent(
    """
    import ctypes, mmap, sys
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        print("NO-MDWE")
        sys.exit(0)
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        sys.exit("W+X mapping was allowed: the probe proves nothing")
    except OSError:
        pass
    """
)

AGENT = """
import numpy, cv2, psutil, httpx, paho.mqtt.client
path = sys.argv[1] + "/probe.avi"
writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
for i in range(10):
    writer.write(numpy.full((240, 320, 3), i * 20, numpy.uint8))
writer.release()
capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
frames = 0
while capture.read()[0]:
    frames += 1
assert frames == 10, frames
gray = cv2.cvtColor(numpy.zeros((240, 320, 3), numpy.uint8), cv2.COLOR_BGR2GRAY)
cv2.Laplacian(gray, cv2.CV_64F).var()
assert cv2.imencode(".jpg", gray)[0]
psutil.virtual_memory(); psutil.cpu_percent()
callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)
assert callback(1) == 2
"""

CENTRAL = """
import flask, flask_babel, sqlalchemy, alembic, pydantic, gunicorn, paho.mqtt.client, ssl, httpx, smtplib
httpx.Client().close()  # the alerts' webhook sender
from cryptography.hazmat.primitives.asymmetric import ec
engine = sqlalchemy.create_engine("sqlite://")
with engine.connect() as connection:
    assert connection.execute(sqlalchemy.text("select 1")).scalar() == 1
ec.generate_private_key(ec.SECP256R1())
ssl.create_default_context()
from fpdf import FPDF
pdf = FPDF(); pdf.add_page(); pdf.set_font("helvetica"); pdf.cell(text="SCC"); pdf.output()
"""


@pytest.mark.parametrize(("role", "body"), [("agent", AGENT), ("central", CENTRAL)])
def test_libraries_run_without_write_execute_memory(tmp_path: Path, role: str, body: str) -> None:
    script = PROBE + body + '\nprint("OK")\n'
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.stdout.strip() == "NO-MDWE":
        pytest.skip("kernel without PR_SET_MDWE")
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), f"{role}: {result.stderr}"
