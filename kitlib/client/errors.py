"""Errors from the official client mapped back to kitlib's ``ApiError`` classes.

A notebook catches ``kitlib.errors.Conflict`` whether the 409 came from the
embedded cluster or a real one: ``translate()`` turns the client's
``ApiException`` (whose body is a ``Status``) into the matching class.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import orjson
from kubernetes.client.exceptions import ApiException

from kitlib.model.errors import ApiError, from_status

__all__ = ["MissingCapabilityError", "from_api_exception", "translate"]

#: How to get OpenKruise onto a real cluster (quoted wherever a Kruise kind is missing).
INSTALL_KRUISE = ("install OpenKruise with helm: `helm repo add openkruise "
                  "https://openkruise.github.io/charts/ && helm repo update && "
                  "helm install kruise openkruise/kruise`")


class MissingCapabilityError(RuntimeError):
    """The cluster lacks what an operation needs (an API group, a kind, a controller).

    ``feature`` names what is missing; the message says how to get it or what to use
    instead, so a notebook fails at the call that needs it, not deep inside.
    """

    def __init__(self, feature: str, message: str) -> None:
        super().__init__(message)
        self.feature = feature


def from_api_exception(exc: ApiException) -> ApiError:
    status: dict[str, Any] = {}
    body = exc.body
    if body:
        try:
            parsed = orjson.loads(body)
            if isinstance(parsed, dict):
                status = parsed
        except orjson.JSONDecodeError:
            status = {"message": str(body)[:500]}
    if not status.get("message"):
        status["message"] = f"{exc.status} {exc.reason}".strip()
    error = from_status(status, code=int(exc.status or 500))
    retry = (exc.headers or {}).get("Retry-After") if exc.headers else None
    if retry and retry.isdigit() and "retryAfterSeconds" not in error.details:
        error.details["retryAfterSeconds"] = int(retry)
    return error


@contextlib.contextmanager
def translate() -> Iterator[None]:
    """Re-raise ``ApiException`` as the matching ``ApiError`` subclass."""
    try:
        yield
    except ApiException as exc:
        raise from_api_exception(exc) from exc
