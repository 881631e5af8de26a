"""The faults a simulated camera can suffer, with their defaults and value parsing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

FaultValue = bool | float | str


class Fault(StrEnum):
    """One injectable misbehaviour; the value is the name used in TOML, the CLI and the control API."""

    OFFLINE = "offline"
    ONVIF_DEAD = "onvif_dead"
    WRONG_CREDENTIALS = "wrong_credentials"
    RTSP_DEAD = "rtsp_dead"
    SNAPSHOT_DEAD = "snapshot_dead"
    BLACK = "black"
    DARK = "dark"
    FROZEN = "frozen"
    BLURRED = "blurred"
    COVERED = "covered"
    LOW_FPS = "low_fps"
    WRONG_RESOLUTION = "wrong_resolution"
    CLOCK_WRONG = "clock_wrong"
    SLOW = "slow"
    MALFORMED_SOAP = "malformed_soap"
    HOSTILE_STRINGS = "hostile_strings"
    # Not a failure: a live camera whose snapshot endpoint serves one picture for this many seconds (some
    # firmwares refresh it once a second or per keyframe), which the agent's second look must not call frozen.
    SNAPSHOT_CACHED = "snapshot_cached"


# "tampered" is what operators call a covered lens; accept both spellings.
_ALIASES = {"tampered": Fault.COVERED}

# Faults that carry a value, with the value used when only the name is given.
DEFAULT_VALUES: dict[Fault, FaultValue] = {
    Fault.WRONG_CREDENTIALS: "changed-by-installer",
    Fault.LOW_FPS: 1.0,
    Fault.WRONG_RESOLUTION: "320x240",
    Fault.CLOCK_WRONG: 6.0,
    Fault.SLOW: 3.0,
    Fault.SNAPSHOT_CACHED: 5.0,
}

_NUMERIC = {Fault.LOW_FPS, Fault.CLOCK_WRONG, Fault.SLOW, Fault.SNAPSHOT_CACHED}

# Faults that change the image and therefore the stream's caps or content.
IMAGE_FAULTS = frozenset(
    {Fault.BLACK, Fault.DARK, Fault.FROZEN, Fault.BLURRED, Fault.COVERED, Fault.LOW_FPS, Fault.WRONG_RESOLUTION}
)


class FaultError(ValueError):
    """A fault name or value that the simulator does not understand."""


def parse_fault_name(name: str) -> Fault:
    """Map a user-supplied name (any case, dashes allowed) to a Fault."""
    key = name.strip().lower().replace("-", "_")
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return Fault(key)
    except ValueError:
        known = ", ".join(sorted([f.value for f in Fault] + list(_ALIASES)))
        raise FaultError(f"unknown fault {name!r}; known faults: {known}") from None


def parse_resolution(text: str) -> tuple[int, int]:
    """``"640x360"`` -> ``(640, 360)``, with even sizes because H.264 in 4:2:0 needs them."""
    try:
        width_text, height_text = text.lower().split("x")
        width, height = int(width_text), int(height_text)
    except ValueError:
        raise FaultError(f"resolution must look like 640x360, got {text!r}") from None
    if not (16 <= width <= 3840 and 16 <= height <= 2160) or width % 2 or height % 2:
        raise FaultError(f"resolution {text!r} must be even and between 16x16 and 3840x2160")
    return width, height


def normalise_value(fault: Fault, value: object) -> FaultValue:
    """Validate ``value`` for ``fault``; ``True``/``None``/empty means the fault's default."""
    if value is None or value is True or value == "":
        return DEFAULT_VALUES.get(fault, True)
    if value is False:
        raise FaultError(f"{fault.value}=false: clear the fault instead")
    if fault in _NUMERIC:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise FaultError(f"{fault.value} needs a number, got {value!r}") from None
        if fault is Fault.LOW_FPS and not 0.1 <= number <= 60:
            raise FaultError("low_fps must be between 0.1 and 60")
        if fault is Fault.SLOW and not 0 <= number <= 600:
            raise FaultError("slow must be between 0 and 600 seconds")
        if fault is Fault.CLOCK_WRONG and abs(number) > 24 * 365 * 20:
            raise FaultError("clock_wrong is in hours and must be within 20 years")
        return number
    if fault is Fault.WRONG_RESOLUTION:
        parse_resolution(str(value))
        return str(value)
    if fault is Fault.WRONG_CREDENTIALS:
        return str(value)
    raise FaultError(f"{fault.value} takes no value, got {value!r}")


def parse_assignment(text: str) -> tuple[Fault, FaultValue]:
    """``"slow=2"`` or ``"black"`` as typed on the command line."""
    name, _, value = text.partition("=")
    fault = parse_fault_name(name)
    return fault, normalise_value(fault, value or None)


@dataclass(slots=True)
class FaultSet:
    """The faults active on one camera right now."""

    active: dict[Fault, FaultValue]

    @classmethod
    def empty(cls) -> FaultSet:
        return cls({})

    @classmethod
    def from_spec(cls, spec: object) -> FaultSet:
        """Accept a list of names (``["black", "slow=2"]``) or a table (``{black = true, slow = 2}``)."""
        faults = cls.empty()
        if spec is None:
            return faults
        if isinstance(spec, str):
            spec = [spec]
        if isinstance(spec, Mapping):
            for name, value in spec.items():
                if value is False:
                    continue
                fault = parse_fault_name(str(name))
                faults.active[fault] = normalise_value(fault, value)
        elif isinstance(spec, list | tuple):
            for item in spec:
                fault, value = parse_assignment(str(item))
                faults.active[fault] = value
        else:
            raise FaultError(f"faults must be a list or a table, got {type(spec).__name__}")
        return faults

    def has(self, fault: Fault) -> bool:
        return fault in self.active

    def number(self, fault: Fault) -> float:
        return float(self.active[fault])

    def text(self, fault: Fault) -> str:
        return str(self.active[fault])

    def as_json(self) -> dict[str, FaultValue]:
        return {fault.value: value for fault, value in sorted(self.active.items(), key=lambda kv: kv[0].value)}
