"""Domain errors a user can cause.

Services raise these; the HTTP edge maps them by type to one JSON shape
`{"error": {"code", "message"}}` with the status below, and the CLI prints the
message. The message always says what to do about it.
"""

from __future__ import annotations


class HearthError(Exception):
    """Base of every error that reaches a user."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(HearthError):
    """No key, or one that is not valid (any more)."""

    status = 401
    code = "unauthorized"


class Forbidden(HearthError):
    """A key, but not the owner's, for what only the owner may do."""

    status = 403
    code = "forbidden"


class TooManyAttempts(HearthError):
    status = 429
    code = "too_many_attempts"


class NotFound(HearthError):
    status = 404
    code = "not_found"


class InvalidInput(HearthError):
    """Well-formed request, but its content cannot be used (bad card, bad field)."""

    status = 422
    code = "invalid_input"


class TooLarge(HearthError):
    status = 413
    code = "too_large"


class Conflict(HearthError):
    status = 409
    code = "conflict"


class Busy(HearthError):
    """The model is taken and the wait queue is full: try again shortly."""

    status = 503
    code = "busy"


class ModelUnavailable(HearthError):
    """The chat model server (llm.backend = "remote") cannot be reached or does not answer."""

    status = 503
    code = "model_unavailable"


class ModelServerError(HearthError):
    """The chat model server answered with an error."""

    status = 502
    code = "model_server_error"
