"""A schematic map of South Sumatra: one square per regency, placed roughly where it lies."""

from __future__ import annotations

from dataclasses import dataclass

# (column, row) on a 5 x 5 grid, west to east and north to south. Cities sit next to the
# regency that surrounds them; the squares trade accuracy for equal size, like any cartogram.
GRID: dict[str, tuple[int, int]] = {
    "16.13": (0, 0),  # Musi Rawas Utara
    "16.06": (2, 0),  # Musi Banyuasin
    "16.07": (3, 0),  # Banyuasin
    "16.73": (0, 1),  # Lubuk Linggau
    "16.05": (1, 1),  # Musi Rawas
    "16.12": (2, 1),  # Penukal Abab Lematang Ilir
    "16.71": (3, 1),  # Palembang
    "16.02": (4, 1),  # Ogan Komering Ilir
    "16.11": (0, 2),  # Empat Lawang
    "16.04": (1, 2),  # Lahat
    "16.03": (2, 2),  # Muara Enim
    "16.74": (3, 2),  # Prabumulih
    "16.10": (4, 2),  # Ogan Ilir
    "16.72": (1, 3),  # Pagar Alam
    "16.01": (2, 3),  # Ogan Komering Ulu
    "16.08": (3, 3),  # Ogan Komering Ulu Timur
    "16.09": (2, 4),  # Ogan Komering Ulu Selatan
}

# Short labels that fit a square on a phone.
ABBREVIATIONS: dict[str, str] = {
    "16.01": "OKU",
    "16.02": "OKI",
    "16.03": "M.Enim",
    "16.04": "Lahat",
    "16.05": "Mura",
    "16.06": "Muba",
    "16.07": "B.asin",
    "16.08": "OKUT",
    "16.09": "OKUS",
    "16.10": "O.Ilir",
    "16.11": "4Lawang",
    "16.12": "PALI",
    "16.13": "Muratara",
    "16.71": "PLG",
    "16.72": "P.Alam",
    "16.73": "L.Linggau",
    "16.74": "Prabu",
}

CELL = 100
GAP = 6


@dataclass(frozen=True, slots=True)
class Tile:
    code: str
    x: int
    y: int
    size: int
    label: str

    @property
    def cx(self) -> float:
        return self.x + self.size / 2


def tiles() -> list[Tile]:
    return [
        Tile(code, col * CELL + GAP // 2, row * CELL + GAP // 2, CELL - GAP, ABBREVIATIONS.get(code, code))
        for code, (col, row) in GRID.items()
    ]


def view_box() -> str:
    columns = max(col for col, _ in GRID.values()) + 1
    rows = max(row for _, row in GRID.values()) + 1
    return f"0 0 {columns * CELL} {rows * CELL}"
