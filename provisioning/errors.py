"""The one error type provisioning raises for operator mistakes, with the exit code the CLI returns."""

from __future__ import annotations

# Exit code for a request the operator can fix (bad name, unknown regency, missing CA): argparse uses 2 too.
USAGE_EXIT_CODE = 2


class ProvisioningError(Exception):
    """Something the operator asked for cannot be done; the message says what and where."""

    def __init__(self, message: str, exit_code: int = USAGE_EXIT_CODE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
