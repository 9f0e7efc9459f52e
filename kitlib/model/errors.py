"""One error hierarchy shaped like ``metav1.Status``.

Every layer raises these; the API server renders them with one handler
(``ApiError.to_status()``) and the client layer maps ``ApiException`` back to the
same classes (``from_status()``), so code that catches ``Conflict`` works the same
against the embedded cluster and a real one.

Messages follow the upstream wording where clients or users rely on it, and
otherwise say what to fix.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Expired",
    "Forbidden",
    "Gone",
    "InternalError",
    "Invalid",
    "MethodNotAllowed",
    "NotAcceptable",
    "NotFound",
    "RequestEntityTooLarge",
    "RequestTimeout",
    "ServiceUnavailable",
    "Timeout",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "field_cause",
    "from_status",
    "invalid_object",
]


class ApiError(Exception):
    """An error that the API answers with a ``Status`` object."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        if retry_after is not None:
            self.details["retryAfterSeconds"] = retry_after

    @property
    def retry_after(self) -> int | None:
        value = self.details.get("retryAfterSeconds")
        return int(value) if value else None

    @property
    def causes(self) -> list[dict[str, Any]]:
        return list(self.details.get("causes", []))

    def to_status(self) -> dict[str, Any]:
        """The wire form: a ``v1 Status`` with ``status: Failure``."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            status["reason"] = self.reason
        if self.details:
            status["details"] = self.details
        status["code"] = self.code
        return status

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class BadRequest(ApiError):
    code, reason = 400, "BadRequest"


class Unauthorized(ApiError):
    code, reason = 401, "Unauthorized"


class Forbidden(ApiError):
    code, reason = 403, "Forbidden"


class NotFound(ApiError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(ApiError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(ApiError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(ApiError):
    code, reason = 409, "AlreadyExists"


class Conflict(ApiError):
    code, reason = 409, "Conflict"


class Gone(ApiError):
    code, reason = 410, "Gone"


class Expired(ApiError):
    code, reason = 410, "Expired"


class RequestEntityTooLarge(ApiError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaType(ApiError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(ApiError):
    code, reason = 422, "Invalid"


class TooManyRequests(ApiError):
    code, reason = 429, "TooManyRequests"


class InternalError(ApiError):
    code, reason = 500, "InternalError"


class ServiceUnavailable(ApiError):
    code, reason = 503, "ServiceUnavailable"


class Timeout(ApiError):
    code, reason = 504, "Timeout"


class RequestTimeout(ApiError):
    """408: the client did not send its request in time (a slow or stalled upload)."""

    code, reason = 408, "Timeout"


_BY_REASON: dict[str, type[ApiError]] = {
    cls.reason: cls
    for cls in (
        BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, NotAcceptable,
        AlreadyExists, Conflict, Gone, Expired, RequestEntityTooLarge, UnsupportedMediaType,
        Invalid, TooManyRequests, InternalError, ServiceUnavailable, Timeout,
    )
}
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    406: NotAcceptable, 408: RequestTimeout, 409: Conflict, 410: Expired, 413: RequestEntityTooLarge,
    415: UnsupportedMediaType, 422: Invalid, 429: TooManyRequests, 500: InternalError,
    503: ServiceUnavailable, 504: Timeout,
}


def from_status(status: dict[str, Any], *, code: int | None = None) -> ApiError:
    """Rebuild the matching ``ApiError`` from a ``Status`` body (or an HTTP code)."""
    reason = str(status.get("reason") or "")
    http_code = int(status.get("code") or code or 500)
    cls = _BY_REASON.get(reason) or _BY_CODE.get(http_code) or ApiError
    error = cls(str(status.get("message") or reason or f"HTTP {http_code}"),
                details=status.get("details") or None)
    if cls is ApiError or cls.code != http_code:
        # Keep the code the server actually sent (e.g. eviction's reason-less 500).
        error.code = http_code  # type: ignore[misc]
    return error


#: Upstream's ``field.ErrorType`` wording → the cause ``reason`` it maps to.
_CAUSE_REASONS = (
    ("Required value", "FieldValueRequired"),
    ("Forbidden", "FieldValueForbidden"),
    ("Duplicate value", "FieldValueDuplicate"),
    ("Unsupported value", "FieldValueNotSupported"),
    ("Too long", "FieldValueTooLong"),
    ("Too many", "FieldValueTooMany"),
    ("Not found", "FieldValueNotFound"),
)


def field_cause(problem: str) -> dict[str, str]:
    """A ``StatusCause`` from a field error written as ``"<field>: <Type>: <detail>"``."""
    field, _, message = problem.partition(": ")
    reason = next((r for prefix, r in _CAUSE_REASONS if message.startswith(prefix)),
                  "FieldValueInvalid")
    return {"reason": reason, "message": message, "field": field}


def invalid_object(kind: str, group: str, name: str, problems: list[str]) -> Invalid:
    """422 for an object that fails validation, as upstream's ``errors.NewInvalid``.

    The message reads ``Deployment.apps "web" is invalid: <problem>`` (several problems
    in brackets, comma-separated) and ``details`` carry the *kind* (not the resource),
    the group and one cause per problem: kubectl prints ``The Deployment "web" is
    invalid: <field>: <problem>`` from those details alone.
    """
    unique = list(dict.fromkeys(problems))
    qualified = f"{kind}.{group}" if group else kind
    summary = unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
    details: dict[str, Any] = {"name": name, "kind": kind,
                               "causes": [field_cause(p) for p in unique]}
    if group:
        details["group"] = group
    return Invalid(f'{qualified} "{name}" is invalid: {summary}', details=details)
