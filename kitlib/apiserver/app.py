"""The ASGI application: authentication, routing and the one error handler.

Routing follows the Kubernetes URL grammar (``paths.py``) and the registry, so
registering a kind is all it takes to serve it. Every request must carry the
bearer token (compared in constant time); every failure is a ``Status`` body
with the right code — an unexpected exception is logged with its traceback on
the server side and answered as a 500 ``InternalError`` that does not echo
request data or credentials.

All handlers run on the event loop thread and call the store synchronously, so
each request is atomic with respect to the engine and to other requests.

Hostile input (``tests/reliability/test_hostile_input.py``): every path and
method reaches ``_endpoint`` (so even a path with a newline gets a ``Status``); a
namespace or name that cannot be one (``..``, ``/``, ``%``, NUL, empty) is 404;
a body must arrive within ``BODY_TIMEOUT`` (408) and fit ``MAX_BODY_BYTES``
(413), and either answer closes the connection. Request headers have their own
deadline in ``protocol.py``; sizes and depths are in ``kitlib.model.limits``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from kitlib.apiserver import discovery, simapi
from kitlib.apiserver.handlers import Request, ResourceHandlers
from kitlib.apiserver.paths import ApiPath, parse_path
from kitlib.apiserver.watch import WatchOptions, open_watch, stream_events
from kitlib.apiserver.wire import (
    MAX_BODY_BYTES,
    check_acceptable,
    error_response,
    json_response,
    media_type,
    wants_table,
)
from kitlib.cluster.embedded import EmbeddedCluster
from kitlib.model import errors
from kitlib.model.limits import body_too_large
from kitlib.model.registry import ResourceType

__all__ = ["ApiServerApp"]

log = logging.getLogger(__name__)

_HEALTH = {"/healthz", "/livez", "/readyz"}


class ApiServerApp:
    """Kubernetes REST over one ``EmbeddedCluster``."""

    def __init__(self, cluster: EmbeddedCluster, clock: simapi.SimClock, *,
                 token: str | None, flush: Callable[[], None] | None = None) -> None:
        self.cluster = cluster
        #: Called before any response or watch chunk leaves (``kitlib serve --data-dir``
        #: commits its log here, so nothing a client saw can be lost by a crash).
        self.flush = flush
        self.clock = clock
        self.token = token
        self.handlers = ResourceHandlers(cluster)
        self.requests = 0
        for rt in simapi.sim_kinds():
            if cluster.registry.by_kind(rt.api_version, rt.kind) is None:
                cluster.registry.register(rt)
        self.asgi = Starlette(routes=[_every_request(self._endpoint)])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.flush is not None and scope.get("type") == "http":
            send = _FlushingSend(send, self.flush)
        await self.asgi(scope, receive, send)

    # -- entry --------------------------------------------------------------------------

    async def _endpoint(self, http: HttpRequest) -> Response:
        self.requests += 1
        try:
            self._authenticate(http)
            return await self._route(http)
        except errors.ApiError as exc:
            response = error_response(exc)
            if isinstance(exc, errors.RequestTimeout | errors.RequestEntityTooLarge):
                # The rest of the body may still be on its way: end the connection.
                response.headers["connection"] = "close"
            return response
        except Exception:
            log.exception("internal error serving %s %s", http.method, http.url.path)
            return error_response(errors.InternalError(
                "an internal error occurred while serving this request; the server logged the "
                "details (please report it)"))

    def _authenticate(self, http: HttpRequest) -> None:
        if self.token is None:
            return
        header = http.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                presented.strip().encode(), self.token.encode()):
            # Upstream's exact message: kubectl prints it as
            # "error: You must be logged in to the server (Unauthorized)".
            raise errors.Unauthorized("Unauthorized")

    async def _route(self, http: HttpRequest) -> Response:
        raw_path = http.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or \
            http.url.path
        path = http.url.path
        if http.method == "OPTIONS":
            raise errors.MethodNotAllowed("OPTIONS is not served (no CORS)")
        if path in _HEALTH:
            return Response(b"ok", media_type="text/plain")
        simple = self._non_resource(path)
        if simple is not None:
            if http.method not in ("GET", "HEAD"):
                raise errors.MethodNotAllowed(f"{http.method} is not allowed on {path}")
            return simple
        parsed = parse_path(raw_path)
        if parsed is None:
            raise errors.NotFound("the server could not find the requested resource")
        problem = parsed.problem()
        if problem is not None:  # 404, as upstream, where such a segment never names anything
            raise errors.NotFound(f"the server could not find the requested resource: {problem}")
        if parsed.is_group_version:
            return self._group_version(parsed)
        return await self._resource(http, parsed)

    def _non_resource(self, path: str) -> Response | None:
        registry = self.cluster.registry
        path = path.rstrip("/") or "/"
        if path == "/version":
            return json_response(discovery.version_info())
        if path == "/api":
            return json_response(discovery.api_versions())
        if path == "/apis":
            return json_response(discovery.group_list(registry))
        if path == "/openapi/v2":
            return Response(b"", media_type=discovery.OPENAPI_V2_CONTENT_TYPE)
        if path == "/":
            return json_response({"paths": ["/api", "/api/v1", "/apis", "/version",
                                            "/healthz", "/openapi/v2"]})
        return None

    def _group_version(self, parsed: ApiPath) -> Response:
        doc = discovery.resource_list(self.cluster.registry, parsed.group, parsed.version)
        if doc is None:
            raise errors.NotFound("the server could not find the requested resource")
        return json_response(doc)

    # -- resources ----------------------------------------------------------------------

    async def _resource(self, http: HttpRequest, parsed: ApiPath) -> Response:
        rt = self.cluster.registry.by_path(parsed.group, parsed.version, parsed.plural or "")
        if rt is None:
            gv = f"{parsed.group}/{parsed.version}" if parsed.group else parsed.version
            raise errors.NotFound(f"the server could not find the requested resource: no "
                                  f"resource {parsed.plural!r} in {gv}")
        check_acceptable(http.headers.get("accept"))
        req = Request(http.method, dict(http.query_params), dict(http.headers),
                      await _body(http))
        if not rt.stored:
            return await self._virtual(rt, parsed, req)
        return await self._stored(rt, parsed, req)

    async def _stored(self, rt: ResourceType, p: ApiPath, req: Request) -> Response:
        ns = self._namespace(rt, p)
        if p.name is None:
            return self._collection(rt, ns, req)
        sub = p.subresource
        if sub is not None and rt.subresource(sub) is None:
            raise errors.NotFound(f"the server could not find the requested resource: "
                                  f"{rt.key} have no {sub!r} subresource")
        method = req.method
        if sub == "scale" and method in ("GET", "HEAD"):
            return self.handlers.get_scale(rt, ns or "", p.name)
        if method in ("GET", "HEAD"):
            return self.handlers.get(rt, ns or "", p.name, req)
        if method == "PUT":
            return self.handlers.update(rt, ns or "", p.name, sub, req)
        if method == "PATCH":
            return self.handlers.patch(rt, ns or "", p.name, sub, req)
        if method == "DELETE" and sub is None:
            return self.handlers.delete(rt, ns or "", p.name, req)
        if method == "POST" and sub is not None:
            return self._subresource_post(rt, ns or "", p.name, sub, req)
        raise errors.MethodNotAllowed(f"{method} is not allowed on {rt.key}"
                                      + (f"/{sub}" if sub else "") + f' "{p.name}"')

    def _collection(self, rt: ResourceType, ns: str | None, req: Request) -> Response | Any:
        method = req.method
        if method in ("GET", "HEAD"):
            if req.query.get("watch") in ("true", "1"):
                return self._watch(rt, ns, req)
            return self.handlers.list_collection(rt, ns, req)
        if method == "POST":
            return self.handlers.create(rt, ns, req)
        if method == "DELETE":
            return self.handlers.delete_collection(rt, ns, req)
        raise errors.MethodNotAllowed(f"{method} is not allowed on the {rt.key} collection")

    def _namespace(self, rt: ResourceType, p: ApiPath) -> str | None:
        if not rt.namespaced:
            if p.namespace is not None:
                raise errors.NotFound(f"{rt.key} are not namespaced: drop /namespaces/"
                                      f"{p.namespace} from the path")
            return None
        return p.namespace

    def _watch(self, rt: ResourceType, ns: str | None, req: Request) -> Response:
        options = WatchOptions(req.query, table=wants_table(req.headers.get("accept")))
        watcher, error = open_watch(self.cluster.store, rt, ns, options)
        body = stream_events(self.cluster.store, rt, watcher, error, options,
                             lambda: self.cluster.now)
        return StreamingResponse(body, media_type="application/json")

    def _subresource_post(self, rt: ResourceType, ns: str, name: str, sub: str,
                          req: Request) -> Response:
        handler = self.cluster.subresource_handlers.get((rt.key, sub))
        if handler is None:
            raise errors.MethodNotAllowed(f"POST is not allowed on {rt.key}/{sub}")
        body = req.body_object()
        status, payload = handler(ns, name, body, req.query)
        self.cluster.settle()
        return json_response(payload, status)

    # -- the sim.kitlib.io group --------------------------------------------------------

    async def _virtual(self, rt: ResourceType, p: ApiPath, req: Request) -> Response:
        if rt is simapi.CLOCK_ADVANCE or rt.kind == "ClockAdvance":
            if req.method != "POST" or p.name is not None:
                raise errors.MethodNotAllowed("clockadvances can only be created (POST)")
            result = await self.clock.advance(req.body_object())
            return json_response(result, 201)
        if rt is simapi.SNAPSHOT:
            if req.method != "POST" or p.name is not None:
                raise errors.MethodNotAllowed("snapshots can only be created (POST)")
            return json_response(await self.clock.snapshot(req.body_object()), 201)
        await self.clock.catch_up()  # paced: report the current time, not the last tick's
        return self._clock(p, req)

    def _clock(self, p: ApiPath, req: Request) -> Response:
        if p.name is None:
            return self._clock_list(req)
        if p.name != simapi.CLOCK_NAME:
            raise errors.NotFound(f'clocks.sim.kitlib.io "{p.name}" not found (the clock is '
                                  f'named "{simapi.CLOCK_NAME}")')
        if req.method in ("GET", "HEAD"):
            if wants_table(req.headers.get("accept")):
                return json_response(self.handlers._table(simapi.CLOCK,
                                                          [self.clock.to_object()], req))
            return json_response(self.clock.to_object())
        if req.method == "PUT":
            return json_response(self.clock.change(_as_dict(req.body_object())))
        if req.method == "PATCH":
            kind = media_type(req.headers.get("content-type"))
            if kind not in ("application/json-patch+json", "application/merge-patch+json"):
                raise errors.UnsupportedMediaType(
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json "
                    "(use kubectl patch --type merge)")
            return json_response(self.clock.patch(
                "json" if kind == "application/json-patch+json" else "merge",
                req.body_object()))
        raise errors.MethodNotAllowed(f"{req.method} is not allowed on the clock")

    def _clock_list(self, req: Request) -> Response:
        """``GET …/clocks``: a list (or, for ``kubectl get``, a Table) of the one clock."""
        if req.method not in ("GET", "HEAD"):
            raise errors.MethodNotAllowed(f"{req.method} is not allowed on clocks")
        if req.query.get("watch") in ("true", "1"):
            raise errors.MethodNotAllowed(
                f'watch is not supported on resources of kind "{simapi.CLOCK.key}"')
        clock = self.clock.to_object()
        rv = clock["metadata"]["resourceVersion"]
        if wants_table(req.headers.get("accept")):
            return json_response(self.handlers._table(simapi.CLOCK, [clock], req, rv=int(rv)))
        return json_response({"kind": "ClockList", "apiVersion": simapi.CLOCK.api_version,
                              "metadata": {"resourceVersion": rv}, "items": [clock]})


def _every_request(endpoint: Callable[[HttpRequest], Any]) -> Route:
    """One route for every path and method, so that every answer is a ``Status``.

    Starlette's ``{path:path}`` does not match a path with a (decoded) newline and a
    method list answers others with its own plain-text 405: ``_route`` decides both.
    """
    route = Route("/{path:path}", endpoint)
    route.path_regex = re.compile(r"^/(?P<path>.*)$", re.DOTALL)
    route.methods = None  # every method (Starlette's default is GET/HEAD only)
    return route


def _as_dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.BadRequest("the body must be a Clock object")
    return value


class _FlushingSend:
    """An ASGI ``send`` that calls ``flush`` before each message leaves.

    When the flush fails (``ServiceUnavailable``: the data directory cannot be
    written), a response that has not started becomes that 503 ``Status`` — the
    write it answers is not acknowledged — and a started stream (a watch) is cut,
    so its client re-watches and relists.
    """

    def __init__(self, send: Any, flush: Callable[[], None]) -> None:
        self._send = send
        self._flush = flush
        self._refused = False

    async def __call__(self, message: dict[str, Any]) -> None:
        if self._refused:
            if message.get("more_body"):
                raise ConnectionAbortedError("response refused: the data directory failed")
            return
        try:
            self._flush()
        except errors.ApiError as exc:
            if message.get("type") != "http.response.start":
                raise
            self._refused = True
            refusal = error_response(exc)
            await self._send({"type": "http.response.start", "status": refusal.status_code,
                              "headers": refusal.raw_headers})
            await self._send({"type": "http.response.body", "body": refusal.body})
            return
        await self._send(message)


#: Seconds a client has to send a request body once its headers are in (a slowloris upload
#: is then answered 408 and its buffer freed). Upstream's non-watch request timeout is 60 s.
BODY_TIMEOUT = 60.0


async def _body(http: HttpRequest) -> bytes:
    """The request body, at most ``MAX_BODY_BYTES`` (413) and within ``BODY_TIMEOUT`` (408)."""
    declared = http.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise body_too_large(f"the body is {declared} bytes")
    chunks: list[bytes] = []
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            await _read_body(http, chunks)
    except TimeoutError:
        raise errors.RequestTimeout(
            f"the request body was not received within {BODY_TIMEOUT:g} seconds: send it "
            "without pauses") from None
    return b"".join(chunks)


async def _read_body(http: HttpRequest, chunks: list[bytes]) -> None:
    size = 0
    async for chunk in http.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise body_too_large("the body is longer")
        chunks.append(chunk)
