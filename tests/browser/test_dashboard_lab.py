"""The dashboard notebook in JupyterLab, in chromium: what a person sees and does.

One notebook session serves the module (starting JupyterLab, the kernel and the embedded
cluster once): its first cells run when the module starts, the rollout cell when a test
first needs it (``Session.rolled_out``), so every test can also run alone. The eviction
test comes last: it leaves two pods terminating. The expected numbers are the notebook's
parameters (tests/browser/notebook.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.browser import board as pb
from tests.browser import notebook as nb
from tests.browser.lab import open_notebook, run_cells
from tests.browser.pages import Pages, failed, stem
from tests.browser.servers import Server

EXPECTED = {"node-count": str(nb.NODES), "pod-count": str(nb.REPLICAS),
            "pods-ready": str(nb.REPLICAS)}


@dataclass
class Session:
    """The open notebook and what the tests learnt about its board."""

    page: Any
    pages: Pages
    #: Before the rollout: app slices (centre → pod key).
    before: dict[tuple[float, float], str] = field(default_factory=dict)
    rolled: bool = False

    def rolled_out(self) -> None:
        """Record the board, run the rollout cell and wait for the board to settle."""
        if self.rolled:
            return
        pb.wait_attrs(self.page, EXPECTED)
        self.before = {s.centre: pb.pod_at(self.page, s.centre)
                       for s in pb.slices(self.page, nb.OLD_IMAGE)}
        version = int(pb.attrs(self.page)["version"])
        run_cells(self.page, [nb.CELL["rollout"]])
        self.rolled = True
        self.page.wait_for_function(
            "([sel, v]) => Number(document.querySelector(sel).dataset.version) > v",
            arg=[pb.BOARD, version])
        pb.wait_attrs(self.page, EXPECTED)


@pytest.fixture(scope="module")
def lab(browser: Any, lab_server: Server) -> Iterator[Session]:
    pages = Pages(browser)
    page = pages.new(height=1800)  # the whole dashboard in one screenshot
    page.set_default_timeout(60_000)
    try:
        open_notebook(page, lab_server, nb.DASHBOARD)
        run_cells(page, [nb.CELL["parameters"], nb.CELL["cluster"], nb.CELL["dashboard"]])
        yield Session(page, pages)
    finally:
        lab_server.remember_children()
        pages.save("lab-session-end", failed=False)
        pages.close()


@pytest.fixture
def session(lab: Session, request: pytest.FixtureRequest) -> Iterator[Session]:
    """The module's session; its page is screenshotted after each test."""
    yield lab
    lab.pages.save(stem(request.node), failed=failed(request.node))


def test_the_board_shows_every_node_and_pod(session: Session) -> None:
    shown = pb.wait_attrs(session.page, EXPECTED)
    assert shown["pods-waiting"] == shown["pods-crashloop"] == shown["pods-terminating"] == "0"
    if not session.rolled:
        assert len(pb.slices(session.page, nb.OLD_IMAGE)) == nb.REPLICAS
    legend = session.page.locator(f"{pb.BOARD} .kb-legend").inner_text()
    assert nb.OLD_IMAGE in legend or nb.NEW_IMAGE in legend
    summary = session.page.locator(f"{pb.BOARD} canvas").get_attribute("aria-label")
    assert summary == f"{nb.NODES} nodes, {nb.REPLICAS} pods: {nb.REPLICAS} ready"


def test_an_in_place_rollout_recolours_containers_without_moving_pods(
        session: Session, shots: Any) -> None:
    if session.rolled:
        pytest.skip("the rollout already ran before this test could record the board")
    shots(session.page, "before-rollout")
    session.rolled_out()
    page = session.page
    after = pb.wait_cells(page, nb.NEW_IMAGE, nb.REPLICAS)
    shots(page, "after-rollout")
    assert len(session.before) == nb.REPLICAS
    assert sorted(s.centre for s in after) == sorted(session.before), \
        "pods moved: the app slices are not where they were before the rollout"
    assert pb.slices(session.page, nb.OLD_IMAGE) == []
    for s in after:
        assert pb.pod_at(page, s.centre) == session.before[s.centre], \
            f"a different pod sits at {s.centre} after the rollout"


def test_the_convergence_chart_has_data(session: Session, shots: Any) -> None:
    session.rolled_out()
    points = pb.convergence_points(session.page)
    assert max(points) >= 2
    session.page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    shots(session.page, "chart")


def test_clicking_a_pod_then_evict_shows_the_result_or_the_budgets_refusal(
        session: Session, shots: Any) -> None:
    session.rolled_out()
    page = session.page
    evict = page.get_by_role("button", name="Evict", exact=True)
    pb.wait_cells(page, nb.NEW_IMAGE, nb.REPLICAS)
    outcomes = []
    for attempt in range(3):  # the PDB (10%) allows two disruptions of twelve ready pods
        target = pb.slices(page, nb.NEW_IMAGE)[0]  # evicted pods are drawn translucent
        key = pb.pod_at(page, target.centre)
        pb.click(page, target.centre)
        pb.wait_attrs(page, {"selected-pod": key})
        page.get_by_text(f"selected pod: {key}").wait_for()
        evict.click()
        result = page.get_by_text(re.compile(f"^(evicted {re.escape(key)}|refused: )"))
        result.first.wait_for()
        outcomes.append(result.first.inner_text())
        shots(page, f"evict-{attempt}")
        if outcomes[-1].startswith("evicted"):
            pb.wait_attrs(page, {"pods-terminating": str(attempt + 1)})
    assert [o.split()[0] for o in outcomes] == ["evicted", "evicted", "refused:"], outcomes
    assert "disruption budget" in outcomes[-1]
