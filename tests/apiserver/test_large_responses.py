"""Large bodies go out in slices, and list bodies unjoined, byte for byte as in one piece."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import orjson
import pytest
from starlette.responses import Response
from starlette.testclient import TestClient

import kitlib.apiserver.wire as wire
from kitlib.apiserver.app import ApiServerApp
from kitlib.apiserver.simapi import SimClock
from kitlib.cluster import EmbeddedCluster

TOKEN = "test-token"


def _sent(response: Response, method: str = "GET") -> tuple[list[Any], list[tuple[bytes, bool]]]:
    start: dict[str, Any] = {}
    body: list[tuple[bytes, bool]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            body.append((bytes(message["body"]), bool(message.get("more_body", False))))

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    asyncio.run(response({"type": "http", "method": method}, receive, send))
    return start["headers"], body


@pytest.mark.parametrize("slice_size", [1, 7, 100, 256 * 1024])
def test_sliced_and_joined_bodies_equal_the_one_piece_body(
        monkeypatch: pytest.MonkeyPatch, slice_size: int) -> None:
    monkeypatch.setattr(wire, "BODY_SLICE", slice_size)
    rng = random.Random(slice_size)
    for _ in range(40):
        parts = [rng.randbytes(rng.randrange(0, 300)) for _ in range(rng.randrange(1, 40))]
        whole = b",".join(parts)
        one_headers, _ = _sent(Response(whole, media_type="application/json"))
        for response in (wire.json_response(whole), wire.joined_json_response(parts, b",")):
            headers, body = _sent(response)
            assert headers == one_headers
            assert b"".join(chunk for chunk, _ in body) == whole == response.body
            assert [more for _, more in body] == [True] * (len(body) - 1) + [False]


def test_a_big_list_over_http_is_the_same_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "BODY_SLICE", 4096)  # many slices even for a small list
    cluster = EmbeddedCluster()
    for i in range(300):
        cluster.store.create("configmaps", {"metadata": {"name": f"c{i:03d}",
                                                         "namespace": "default"},
                                            "data": {"i": str(i)}})
    clock = SimClock.create(cluster, mode="stepped", speed=20, wall=time.monotonic)
    app = ApiServerApp(cluster, clock, token=TOKEN)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        response = http.get("/api/v1/namespaces/default/configmaps")
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content) > 4096
        body = orjson.loads(response.content)
        assert [o["metadata"]["name"] for o in body["items"]] == [f"c{i:03d}"
                                                                  for i in range(300)]
        assert body["items"] == cluster.store.select("configmaps", namespace="default")
        assert http.head("/api/v1/namespaces/default/configmaps").content == b""
