"""What can go wrong talking to a helpdesk, in terms the worker can act on."""

from __future__ import annotations


class HelpdeskError(Exception):
    """A helpdesk call failed. ``transient`` errors are worth retrying later."""

    transient = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(HelpdeskError):
    """The ticket does not exist (or is no longer visible to our API user)."""


class Conflict(HelpdeskError):
    """The ticket changed since we read it (safe-update refused the write)."""


class Rejected(HelpdeskError):
    """The helpdesk refused the write as invalid (HTTP 422). ``details`` is its explanation."""

    def __init__(self, message: str, *, status: int | None = 422, details: object = None) -> None:
        super().__init__(message, status=status)
        self.details = details


class Misdirected(Rejected):
    """The helpdesk's answer is not about what was asked (another ticket than the one requested),
    or names what no URL is built from (a next-page link off the listing asked for on the
    configured helpdesk, an id that is not an id). Nothing is read or written on it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=None)


class AuthError(HelpdeskError):
    """Our credentials were refused. Retried later: an admin can fix the token without loss."""

    transient = True


class Unavailable(HelpdeskError):
    """The helpdesk is rate limiting us, down, or unreachable; try again after ``retry_after``."""

    transient = True

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class AmbiguousWrite(HelpdeskError):
    """A write may or may not have been applied (timeout, dropped connection).

    Never repeat such a write blindly: re-read the ticket and decide again.
    """

    transient = True


def raise_for_status(response, what: str, *, rejected: tuple[int, ...] = (422,)) -> None:
    """Turn an error answer into the error the worker acts on; ``what`` names the request."""
    status = response.status_code
    if status < 400:
        return
    try:
        payload = response.json()
    except ValueError:
        payload = response.text[:500]
    if status == 404:
        raise NotFound(f"{what}: not found", status=status)
    if status == 409:
        raise Conflict(f"{what}: changed since it was read ({payload})", status=status)
    if status in rejected:
        raise Rejected(f"{what}: rejected ({payload})", status=status, details=payload)
    raise HelpdeskError(f"{what}: HTTP {status} ({payload})", status=status)


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, for a log line that stays one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
