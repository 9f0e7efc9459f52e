"""Render every kitlib.viz figure built from the test frames to PNG (a look, not a test).

Usage: ``python tests/viz/render_figures.py [OUTPUT_DIR]`` (default ``viz-figures``).
Needs ``kaleido`` (not a kitlib dependency); without it the script says so and exits 0.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import plotly.graph_objects as go

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kitlib import viz
from tests.viz import frames


def figures() -> dict[str, go.Figure]:
    """Every builder applied to the hand-made frames, by file name."""
    inplace_pods, inplace_containers = frames.inplace()
    recreate_pods, recreate_containers = frames.recreate()
    workloads = frames.workloads()
    return {
        "convergence": viz.convergence(workloads, workload="cloneset/web"),
        "capacity": viz.capacity(workloads),
        "timeline-inplace": viz.timeline(inplace_pods, inplace_containers),
        "timeline-recreate": viz.timeline(recreate_pods, recreate_containers),
        "compare": viz.compare(frames.strategy_runs()),
        "compare-curves": viz.compare_curves(
            {"in-place": workloads, "recreate": workloads.assign(updated=workloads["ready"])},
            workload="cloneset/web"),
        "timeline-50-recreate": viz.timeline(*frames.rollout(pods=50, samples=14, in_place=False)),
        "timeline-50-inplace": viz.timeline(*frames.rollout(pods=50, samples=14, in_place=True)),
        "placement": viz.placement(recreate_pods, frames.nodes()),
        "placement-50": viz.placement(frames.rollout(pods=50, samples=14, in_place=False)[0],
                                      None, time=6, color_by="revision"),
        "disruptions": viz.disruptions(frames.disruption_attempts()),
        "empty": viz.convergence(workloads.iloc[0:0]),
    }


def main(argv: list[str]) -> int:
    if importlib.util.find_spec("kaleido") is None:
        print("kaleido is not installed: nothing rendered (pip install kaleido to render PNGs)")
        return 0
    output = Path(argv[1] if len(argv) > 1 else "viz-figures")
    output.mkdir(parents=True, exist_ok=True)
    for name, figure in figures().items():
        path = output / f"{name}.png"
        figure.write_image(path, width=1000, height=figure.layout.height or 500)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
