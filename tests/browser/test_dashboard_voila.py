"""The same dashboard notebook as a Voila app, in chromium: it renders, and the board shows
the cluster the notebook made (Voila runs every cell, the rollout too, before the page's
widgets connect). One page serves the module; it is screenshotted after each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import board as pb
from tests.browser import notebook as nb
from tests.browser.pages import Pages, failed, stem
from tests.browser.servers import Server

EXPECTED = {"node-count": str(nb.NODES), "pod-count": str(nb.REPLICAS),
            "pods-ready": str(nb.REPLICAS)}


@pytest.fixture(scope="module")
def voila_pages(browser: Any, voila_server: Server) -> Iterator[Pages]:
    pages = Pages(browser)
    page = pages.new(height=1800)  # the whole dashboard in one screenshot
    page.set_default_timeout(90_000)
    try:
        page.goto(voila_server.url)  # Voila runs the whole notebook for this request
        pb.wait_attrs(page, {"node-count": str(nb.NODES)}, timeout=90)
        voila_server.remember_children()
        yield pages
    finally:
        pages.close()


@pytest.fixture
def page(voila_pages: Pages, request: pytest.FixtureRequest) -> Iterator[Any]:
    yield voila_pages.open[0]
    voila_pages.save(stem(request.node), failed=failed(request.node))


def test_the_dashboard_renders_in_voila_with_every_node_and_pod(page: Any) -> None:
    shown = pb.wait_attrs(page, EXPECTED)
    assert int(shown["version"]) >= 1
    pb.wait_cells(page, nb.NEW_IMAGE, nb.REPLICAS)  # the notebook's rollout ran too
    assert page.get_by_role("button", name="Evict", exact=True).is_visible()
    assert page.locator(".js-plotly-plot").count() >= 2
    assert page.get_by_text("Convergence").first.is_visible()


def test_the_convergence_chart_has_data_in_voila(page: Any) -> None:
    # the chart's view connects after the notebook ran: it must start from the latest data
    assert max(pb.convergence_points(page, timeout=10)) >= 2
