"""Turn pydantic validation errors into 'file:key: problem' lines an operator can act on."""

from __future__ import annotations

from pydantic import ValidationError


def format_validation_error(error: ValidationError, source: str) -> str:
    """One 'source:key: problem' line per error; unknown keys are called what they are."""
    lines = []
    for problem in error.errors(include_url=False):
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = "unknown key" if problem["type"] == "extra_forbidden" else problem["msg"]
        lines.append(f"{source}:{key}: {message}")
    return "\n".join(lines)
