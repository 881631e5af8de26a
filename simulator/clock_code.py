"""A clock burned into the picture as black and white blocks, for measuring glass-to-glass latency.

The text OSD is for people; a benchmark needs to read the time a frame was rendered back out of the
picture the browser shows, after H.264 in the simulator, decoding, scaling and JPEG on the agent and
the browser's own scaling. So the frame carries a row of :data:`CELLS` blocks: :data:`DATA_BITS` bits
of milliseconds since the epoch (most significant first, white = 1) and a :data:`CHECK_BITS`-bit count
of the ones, which tells a misread (a block caught mid-change, a frame torn) from a reading. The row's
place and each block's are fractions of the frame, so the same reader works at any size; blocks are
about 1/50 of the width, which survives JPEG at quality 30 on a 160 px wide picture.

The browser's reader is ``benchmarks/live_clock.js``; :func:`read` here is the same algorithm in Python
(tests/simulator/test_clock_code.py checks both ends agree through JPEG at the live size).
"""

from __future__ import annotations

import numpy as np

DATA_BITS = 42  # milliseconds since 1970 fit in 42 bits until the year 2109
CHECK_BITS = 6  # the number of ones among the data bits (at most 42)
CELLS = DATA_BITS + CHECK_BITS
# The row, as fractions of the frame: below the text OSD, above the scene's road.
LEFT, RIGHT = 0.04, 0.96
TOP, BOTTOM = 0.13, 0.21


def layout() -> dict[str, float]:
    """The constants a reader elsewhere (the browser's, benchmarks/live_clock.js) needs."""
    return {"cells": CELLS, "data_bits": DATA_BITS, "left": LEFT, "right": RIGHT, "top": TOP, "bottom": BOTTOM}


def bits_of(millis: int) -> list[int]:
    """The cells' values for ``millis``: data bits, most significant first, then the count of ones."""
    data = [(millis >> (DATA_BITS - 1 - i)) & 1 for i in range(DATA_BITS)]
    ones = sum(data)
    return data + [(ones >> (CHECK_BITS - 1 - i)) & 1 for i in range(CHECK_BITS)]


def value_of(bits: list[int]) -> int | None:
    """The milliseconds the cells say, or None when the check bits disagree (a misread)."""
    if len(bits) != CELLS:
        return None
    data, check = bits[:DATA_BITS], bits[DATA_BITS:]
    ones = 0
    for bit in check:
        ones = ones * 2 + bit
    if ones != sum(data):
        return None
    millis = 0
    for bit in data:
        millis = millis * 2 + bit
    return millis


def _cell_x(width: int, index: int) -> tuple[int, int]:
    span = (RIGHT - LEFT) * width / CELLS
    return round(LEFT * width + index * span), round(LEFT * width + (index + 1) * span)


def draw(frame: np.ndarray, millis: int) -> None:
    """Burn ``millis`` into ``frame`` (BGR, changed in place)."""
    height, width = frame.shape[:2]
    top, bottom = round(TOP * height), round(BOTTOM * height)
    for index, bit in enumerate(bits_of(millis)):
        left, right = _cell_x(width, index)
        frame[top:bottom, left:right] = 255 if bit else 0


def read(frame: np.ndarray) -> int | None:
    """The milliseconds burned into ``frame`` (BGR or grey), or None when it does not read cleanly.

    Each cell's middle half (both ways) is averaged and compared with mid-grey: the edges are where
    scaling and JPEG blur one block into the next.
    """
    grey = frame if frame.ndim == 2 else frame.mean(axis=2)
    height, width = grey.shape[:2]
    top, bottom = TOP * height, BOTTOM * height
    row_top, row_bottom = int(top + (bottom - top) / 4), int(bottom - (bottom - top) / 4)
    span = (RIGHT - LEFT) * width / CELLS
    bits = []
    for index in range(CELLS):
        left = LEFT * width + index * span
        cell = grey[row_top:max(row_bottom, row_top + 1), int(left + span / 4):max(int(left + span * 3 / 4),
                                                                                   int(left + span / 4) + 1)]
        bits.append(1 if float(cell.mean()) >= 128 else 0)
    return value_of(bits)
