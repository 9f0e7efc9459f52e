"""The PodBoard's front end alone, in chromium: ``widgets/podboard.js`` mounted on a plain
page (``mount(el, {snapshot})``) with data made by the Python board model — the same page
the frame-budget benchmark uses, at a size a person can read in the screenshot."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from benchmarks.podboard_browser import NEW_IMAGE, HarnessServer, board_data
from tests.browser import board as pb

PODS, NODES, DELTA = 24, 6, 8

_MOUNT = """async () => {
    const snapshot = await (await fetch('/data/snapshot.json')).json();
    window.selections = [];
    window.board = window.podboard.mount(document.getElementById('board'), {
        snapshot, onSelect: (s) => window.selections.push(s)});
}"""

_APPLY = """async () => {
    const deltas = await (await fetch('/data/deltas.json')).json();
    return deltas.map((d) => window.board.applyDelta(d));
}"""


@pytest.fixture
def harness(pages: Any) -> Any:
    snapshot, deltas = board_data(pods=PODS, nodes=NODES, delta_size=DELTA, deltas=1)
    documents = {"snapshot.json": orjson.dumps(snapshot), "deltas.json": orjson.dumps(deltas)}
    with HarnessServer(documents) as url:
        page = pages.new()
        page.goto(url)
        page.wait_for_function("() => window.harnessReady === true")
        page.evaluate(_MOUNT)
        yield page
        assert pages.errors(page) == []


def test_a_mounted_board_shows_every_node_and_pod(harness: Any) -> None:
    shown = pb.wait_attrs(harness, {"node-count": str(NODES), "pod-count": str(PODS),
                                    "pods-ready": str(PODS), "version": "1"})
    assert float(shown["first-draw-ms"]) > 0
    assert len(pb.slices(harness, "nginx:1.27")) == PODS
    label = harness.locator(f"{pb.BOARD} canvas").get_attribute("aria-label")
    assert label == f"{NODES} nodes, {PODS} pods: {PODS} ready"


def test_an_in_place_delta_recolours_containers_without_moving_pods(harness: Any,
                                                                    shots: Any) -> None:
    pb.wait_attrs(harness, {"pod-count": str(PODS)})
    before = pb.slices(harness, "nginx:1.27")
    keys = {s.centre: pb.pod_at(harness, s.centre) for s in before}
    assert len(set(keys.values())) == PODS
    shots(harness, "before")
    assert harness.evaluate(_APPLY) == [True]
    pb.wait_attrs(harness, {"version": "2", "pod-count": str(PODS)})
    updated = pb.wait_cells(harness, NEW_IMAGE, DELTA)  # once the in-place flashes faded
    kept = pb.slices(harness, "nginx:1.27")
    assert len(updated) == DELTA and len(kept) == PODS - DELTA
    assert sorted(s.centre for s in updated + kept) == sorted(keys)
    for s in updated:  # the same pods, recoloured where they were
        assert pb.pod_at(harness, s.centre) == keys[s.centre]


def test_clicking_a_pod_selects_it(harness: Any) -> None:
    pb.wait_attrs(harness, {"pod-count": str(PODS)})
    target = pb.slices(harness, "nginx:1.27")[7]
    key = pb.pod_at(harness, target.centre)
    pb.click(harness, target.centre)
    pb.wait_attrs(harness, {"selected-pod": key})
    assert harness.evaluate("() => window.selections") == [{"pod": key, "node": ""}]
