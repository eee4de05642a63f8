"""The one exception type that services raise for a rule the caller broke.

Interfaces turn it into the right shape: JSON {"detail", "code"} in the API, an error event
on a socket, a form error on a page.
"""

from __future__ import annotations

from enum import StrEnum


class ApplicationError(Exception):
    status_code = 400

    def __init__(self, message: str, code: str | StrEnum, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = str(code)
        if status_code is not None:
            self.status_code = status_code


class ConflictError(ApplicationError):
    status_code = 409
