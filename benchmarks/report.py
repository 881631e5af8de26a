"""Write one benchmark's section of docs/performance.md between its markers, leaving the others alone."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def write_section(name: str, text: str, doc: Path = DOC) -> None:
    """Replace the ``name`` section (or append it) with ``text``; every other section stays as it was."""
    start, end = markers(name)
    current = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n"
    body = text.strip().removeprefix(start).removesuffix(end).strip()
    section = f"{start}\n{body}\n{end}"
    if start in current and end in current:
        head, rest = current.split(start, 1)
        current = head + section + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    doc.write_text(current, encoding="utf-8")
