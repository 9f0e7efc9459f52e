"""The PodBoard's front end without a browser: syntax, and its pure functions run by Node.

``widgets/podboard.js`` touches the DOM only inside functions, so Node can import it and
run ``layout`` (positions, hit testing by grid arithmetic), ``matches`` (the same filter
rule as Python) and ``summaryText`` (the accessible summary). Skipped without ``node``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kitlib.widgets._board_model import matches, pod_entry
from kitlib.widgets.podboard import PodBoard, frontend_file
from tests.widgets.test_podboard_model import pod

WIDGETS = Path(__file__).resolve().parents[2] / "widgets"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed: the JS "
                                "syntax and layout checks need `node` on PATH")


def run_node(script: str) -> Any:
    """Run an ES module script (``widgets/`` is importable as ``./podboard.js``)."""
    assert NODE is not None
    done = subprocess.run([NODE, "--input-type=module", "-e", script], cwd=WIDGETS,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_widget_ships_its_module_and_stylesheet() -> None:
    assert frontend_file("podboard.js").read_text().count("export function mount") == 1
    assert frontend_file("podboard.css").stat().st_size > 0
    assert str(PodBoard._esm) == frontend_file("podboard.js").read_text()
    with pytest.raises(FileNotFoundError):
        frontend_file("nothing.js")


@needs_node
@pytest.mark.parametrize("name", sorted(p.name for p in WIDGETS.glob("*.js")))
def test_javascript_parses(name: str) -> None:
    assert NODE is not None
    done = subprocess.run([NODE, "--check", str(WIDGETS / name)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


LAYOUT_CHECK = """
import { layout } from "./podboard.js";
const nodes = Array.from({length: 40}, (_, i) => ({name: `node-${i}`, zone: `z${i % 3}`,
  pool: i % 4 ? "default" : "gpu", ready: true, unschedulable: false, taints: []}));
const pods = Array.from({length: 1000}, (_, i) => ({key: `ns/p${i}`, node: `node-${i % 41}`,
  slot: Math.floor(i / 41), containers: []}));
const a = layout(nodes, pods, {width: 1200, targetHeight: 700});
const b = layout(nodes, pods, {width: 1200, targetHeight: 700});
const rects = pods.map((p) => a.podRect(p));
const known = new Set(nodes.map((n) => n.name));
const home = (p) => (known.has(p.node) ? p.node : "");  // node-40 does not exist
const inside = pods.every((p, i) => {
  const n = a.nodeRect(home(p));
  const r = rects[i];
  return r && n && r.x >= n.x && r.y >= n.y && r.x + r.w <= n.x + n.w && r.y + r.h <= n.y + n.h;
});
const seen = new Set(rects.map((r) => `${r.x},${r.y}`));
const hits = pods.every((p, i) => {
  const r = rects[i];
  const node = a.nodeAt(r.x + r.w / 2, r.y + r.h / 2);
  return node && node.name === home(p) && a.slotAt(r.x + r.w / 2, r.y + r.h / 2,
                                                a.nodeRect(node.name)) === p.slot;
});
const nodeBoxes = nodes.map((n) => a.nodeRect(n.name));
const sameSize = nodeBoxes.every((r) => r.w === nodeBoxes[0].w && r.h === nodeBoxes[0].h);
console.log(JSON.stringify({
  pure: JSON.stringify(a.groups.map((g) => [g.x, g.y, g.w, g.h])) ===
        JSON.stringify(b.groups.map((g) => [g.x, g.y, g.w, g.h])),
  inside, distinct: seen.size === pods.length, hits, sameSize,
  groups: a.groups.map((g) => g.title), fits: a.height <= 700, width: a.width,
  gapMiss: a.nodeAt(2, 2), cell: a.cell,
}));
"""


@needs_node
def test_layout_places_every_pod_in_its_node_and_hit_testing_finds_it() -> None:
    result = run_node(LAYOUT_CHECK)
    assert result["pure"] and result["inside"] and result["distinct"] and result["sameSize"]
    assert result["hits"], "the centre of each pod's cell hits that pod's node and slot"
    assert result["groups"] == ["pool default · z0", "pool default · z1", "pool default · z2",
                                "pool gpu · z0", "pool gpu · z1", "pool gpu · z2",
                                "not scheduled"]
    assert result["fits"] and result["gapMiss"] is None
    assert result["cell"]["w"] >= 5


@needs_node
def test_the_accessible_summary_reads_as_a_sentence() -> None:
    script = """
    import { summaryText } from "./podboard.js";
    console.log(JSON.stringify([
      summaryText(3, 12, {ready: 10, waiting: 2, running: 0, crashloop: 0, terminating: 0}),
      summaryText(1, 0, {}),
    ]));
    """
    assert run_node(script) == ["3 nodes, 12 pods: 10 ready, 2 waiting", "1 node, 0 pods"]


FILTERS = ["", "web", "WEB-1", "app=web", "app=other", "ns:default", "node:node-1",
           "nginx:1.25 app=web", "cloneset"]


@needs_node
def test_the_front_end_filters_exactly_as_python_does() -> None:
    entry = pod_entry(pod(containers=[("app", "nginx:1.25"), ("envoy", "envoy:1")]))
    script = f"""
    import {{ matches }} from "./podboard.js";
    const pod = {json.dumps(entry)};
    console.log(JSON.stringify({json.dumps(FILTERS)}.map((t) => matches(pod, t))));
    """
    assert run_node(script) == [matches(entry, text) for text in FILTERS]
