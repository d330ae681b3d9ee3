"""Exceptions of the Baton client."""

from __future__ import annotations

__all__ = ["BatonError", "BatonAPIError", "BatonSubmissionError", "BatonScriptError", "AgentSetupError"]


class BatonError(Exception):
    """An error in Baton's vocabulary: a ``code`` (``invalid_argument``, ``validation_failed``,
    ``not_found``, ``conflict``, ``already_exists``, ``immutable``, ``already_terminal``,
    ``unauthorized``, ``forbidden``, ``payload_too_large``, ``unavailable``, ``internal``), a
    human ``message`` and, when one field is to blame, its ``field`` (``tasks[3].dependencies[0]``)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}" + (f" (field {field})" if field else ""))
        self.code = code
        self.message = message
        self.field = field


class BatonAPIError(BatonError):
    """An error answer of the gateway's HTTP API, ``{"error": {"code", "message", "field"}}``,
    with its HTTP ``status``. ``current_status`` is set on ``already_terminal``."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, current_status: str | None = None
    ) -> None:
        super().__init__(code, message, field)
        self.status = status
        self.current_status = current_status

    def __str__(self) -> str:
        return f"HTTP {self.status} {super().__str__()}"


class BatonSubmissionError(BatonError):
    """A Redis-native submission the scheduler refused (its answer had ``"ok": false``)."""

    def __init__(
        self, code: str, message: str, field: str | None = None, request_id: str | None = None,
        entry_id: str | None = None,
    ) -> None:
        super().__init__(code, message, field)
        self.request_id = request_id
        self.entry_id = entry_id


class BatonScriptError(BatonError):
    """A Lua transition refused its call (``BATON <code> <message>``), or Redis refused it."""


class AgentSetupError(Exception):
    """The agent cannot start on this Redis or namespace (eviction policy, shard counts, no executors)."""
