"""Request bodies in, responses out: decoding, content negotiation, ``Status`` rendering.

* Bodies: JSON (also when no Content-Type is sent, as the Python client does),
  YAML (aliases refused, so a small document cannot expand into a huge one),
  and kubectl's protobuf envelope for the kinds ``protobuf.py`` knows. Bodies
  over ``MAX_BODY_BYTES`` are answered with 413, as the real API server's 3 MiB
  limit does, and bodies nested deeper than ``MAX_NESTING_DEPTH`` with 400
  (``kitlib.model.limits`` gives the numbers and why).
* Responses: always JSON (clients that offer protobuf also offer JSON); a
  ``meta.k8s.io`` Table when the Accept header asks for ``as=Table``.
* Errors: every ``ApiError`` becomes its ``Status`` body with the matching
  code, plus ``Retry-After`` when the error carries one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import yaml
from starlette.responses import Response

from kitlib.apiserver.protobuf import PROTOBUF_CONTENT_TYPE, decode_request
from kitlib.model import errors
from kitlib.model.limits import MAX_BODY_BYTES, MAX_NESTING_DEPTH, body_too_large, check_nesting

__all__ = [
    "MAX_BODY_BYTES",
    "decode_body",
    "error_response",
    "joined_json_response",
    "json_response",
    "media_type",
    "wants_table",
]

JSON = "application/json"
_JSON_TYPES = {"application/json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/json-patch+json", ""}
_YAML_TYPES = {"application/yaml", "application/apply-patch+yaml", "text/yaml",
               "application/x-yaml"}


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class _NoAliasLoader(yaml.SafeLoader):
    """A YAML loader that yields what upstream's YAML-to-JSON conversion yields.

    Anchors/aliases are refused (no "billion laughs" expansion); timestamps stay
    strings; scalar mapping keys become strings (``1`` → ``"1"``, ``null`` →
    ``"null"``), as ``sigs.k8s.io/yaml`` converts them, and other keys are refused.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers
                if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"YAML aliases are not accepted (line {event.start_mark.line + 1})")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        # Keys are converted one by one: as Python values, 1 and true would be one key.
        if not isinstance(node, yaml.MappingNode):
            raise yaml.YAMLError(f"expected a mapping (line {node.start_mark.line + 1})")
        self.flatten_mapping(node)
        return {_yaml_key(self.construct_object(key, deep=deep), key):
                self.construct_object(value, deep=deep) for key, value in node.value}


def _yaml_key(key: Any, node: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, int | float):
        return repr(key)
    raise yaml.YAMLError(f"a mapping key must be a string or a number, got {type(key).__name__} "
                         f"(line {node.start_mark.line + 1})")


def decode_body(body: bytes, content_type: str | None) -> Any:
    """The value a request body carries (400/413/415 ``ApiError`` when it cannot be had)."""
    if len(body) > MAX_BODY_BYTES:
        raise body_too_large(f"the body is {len(body)} bytes")
    if not body.strip():
        raise errors.BadRequest("the request body is empty: send the object as JSON or YAML")
    kind = media_type(content_type)
    if kind in _JSON_TYPES or kind.endswith("+json"):
        return _decode_json(body)
    if kind == PROTOBUF_CONTENT_TYPE:
        value = decode_request(body)
    elif kind in _YAML_TYPES:
        value = _decode_yaml(body)
    else:
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format ({kind}) - accepted media types "
            "include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
    check_nesting(value)
    return value


def _decode_json(body: bytes) -> Any:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest(f"the request body is not valid JSON: {exc}") from None
    if body.count(b"{") + body.count(b"[") <= MAX_NESTING_DEPTH:
        return value  # too few brackets to nest too deeply: skip the walk
    check_nesting(value)
    return value


def _decode_yaml(body: bytes) -> Any:
    try:
        return yaml.load(body, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        raise errors.BadRequest(f"the request body is not valid YAML: {exc}") from None
    except RecursionError:
        raise errors.BadRequest("the request body is nested too deeply") from None


def wants_table(accept: str | None) -> bool:
    """True when the Accept header's first acceptable type is a ``meta.k8s.io`` Table."""
    for part in (accept or "").split(","):
        params = {p.strip() for p in part.split(";")[1:]}
        if "as=Table" in params:
            return True
        if media_type(part) in ("application/json", "*/*", "application/*"):
            return False
    return False


def check_acceptable(accept: str | None) -> None:
    """406 when the client accepts nothing this server can send (JSON)."""
    if not accept:
        return
    for part in accept.split(","):
        kind = media_type(part)
        if kind in ("application/json", "*/*", "application/*", "") or kind.endswith("+json"):
            return
    raise errors.NotAcceptable(f"only application/json responses are served; the request "
                               f"accepts only {accept!r}")


#: Bodies larger than this are handed to the HTTP server in slices of about this size.
BODY_SLICE = 256 * 1024


class _Response(Response):
    """A ``Response`` that writes a large body in slices (same bytes, same headers).

    Handing uvicorn a 40 MB list in one piece makes it encrypt and buffer all of
    it before the client reads a byte; in slices, its flow control lets the
    server encrypt one slice while the client reads the previous one.
    """

    def _size(self) -> int:
        return len(self.body)

    def _slices(self) -> Iterator[bytes | memoryview]:
        body = self.body
        for start in range(0, len(body), BODY_SLICE):
            yield body[start:start + BODY_SLICE]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._size() <= BODY_SLICE or scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        slices = self._slices()
        current = next(slices)
        for following in slices:
            await send({"type": "http.response.body", "body": current, "more_body": True})
            current = following
        await send({"type": "http.response.body", "body": current, "more_body": False})
        if self.background is not None:
            await self.background()


class _JoinedResponse(_Response):
    """A JSON body ``sep.join(parts)`` that is never joined in one piece.

    A list response is the cached bytes of each object; joining tens of MB only
    to slice them again costs a copy of the whole body before the first byte
    goes out. ``body`` is still available (joined on access).
    """

    def __init__(self, parts: list[bytes], sep: bytes, status_code: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        self._parts: list[bytes] = []  # Response.__init__ reads body: keep it cheap till then
        self._sep = sep
        self._length = sum(map(len, parts)) + max(len(parts) - 1, 0) * len(sep)
        super().__init__(b"", status_code=status_code, media_type=JSON,
                         headers={**(headers or {}), "content-length": str(self._length)})
        self._parts = parts

    @property
    def body(self) -> bytes:
        return self._sep.join(self._parts)

    @body.setter
    def body(self, value: bytes | memoryview) -> None:
        pass  # Response.__init__ stores its rendered (empty) content: the parts are the body

    def _size(self) -> int:
        return self._length

    def _slices(self) -> Iterator[bytes | memoryview]:
        parts, sep = self._parts, self._sep
        group: list[bytes] = []
        size = 0
        for i, part in enumerate(parts):
            group.append(part)
            size += len(part) + len(sep)
            if size >= BODY_SLICE and i + 1 < len(parts):
                yield sep.join(group) + sep
                group, size = [], 0
        yield sep.join(group)


def json_response(payload: Any, status: int = 200, *,
                  headers: dict[str, str] | None = None) -> Response:
    content = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return _Response(content, status_code=status, media_type=JSON, headers=headers)


def joined_json_response(parts: list[bytes], sep: bytes = b",") -> Response:
    """A 200 JSON response whose body is ``sep.join(parts)`` (sent without joining it)."""
    return _JoinedResponse(parts, sep)


def error_response(error: errors.ApiError) -> Response:
    headers = {}
    if error.retry_after:
        headers["Retry-After"] = str(error.retry_after)
    return json_response(error.to_status(), error.code, headers=headers)
