"""A live Dashboard whose cluster is closed stops following it, quietly: a notebook's last
cell closes the cluster while the dashboard it displayed earlier is still ticking."""

from __future__ import annotations

import asyncio

import pytest

import kitlib
from kitlib.widgets.dashboard import POLL_SECONDS, Dashboard
from tests.conftest import ThreadedServer
from tests.widgets.test_live import run_on_own_loop


def test_closing_the_cluster_stops_a_live_dashboard_without_errors(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    server = ThreadedServer(tmp_path_factory.mktemp("closed"), nodes=2, mode="paced",
                            speed=100.0).start()
    try:
        cluster = kitlib.connect(kubeconfig=server.kubeconfig)
        cluster.deploy_example("web", replicas=2)

        async def run() -> tuple[bool, bool, tuple[object, ...], str]:
            dash = Dashboard(cluster, dt=5.0)
            await asyncio.sleep(0.5)
            was_live = dash.live
            cluster.close()
            await asyncio.sleep(3 * POLL_SECONDS + 1.0)
            live, outputs, status = dash.live, dash.output.outputs, dash.status.value
            dash.close()
            return was_live, live, outputs, status

        was_live, live, outputs, status = run_on_own_loop(run)
    finally:
        server.stop()
    assert cluster.closed
    assert was_live and not live, "the live task ends once the cluster is closed"
    assert outputs == (), f"errors shown after the cluster was closed: {outputs}"
    assert "cluster was closed" in status
