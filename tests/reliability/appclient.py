"""The API server app over an embedded cluster, driven in-process (no socket): what the fuzz
and hostile-input tests send their requests to."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from kitlib.apiserver.app import ApiServerApp
from kitlib.apiserver.simapi import SimClock
from kitlib.cluster import EmbeddedCluster


def app_client(cluster: EmbeddedCluster, token: str) -> TestClient:
    """A client of ``cluster``'s API server app (stepped clock) that sends ``token``; a 5xx
    comes back as a response, not an exception, so tests can assert on it."""
    clock = SimClock.create(cluster, mode="stepped", speed=20, wall=time.monotonic)
    return TestClient(ApiServerApp(cluster, clock, token=token),
                      headers={"Authorization": f"Bearer {token}"},
                      raise_server_exceptions=False)
