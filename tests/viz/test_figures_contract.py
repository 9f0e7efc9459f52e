"""What every builder promises: one look, empty frames never raise, same input same figure,
inputs untouched, and kitlib.viz depends only on pandas, numpy, plotly and kitlib.model."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pandas as pd
import pytest

import kitlib.viz
from kitlib import viz
from tests.viz import frames


def builders():
    """(name, build) over fresh copies of every scenario frame."""
    inplace_pods, inplace_containers = frames.inplace()
    recreate_pods, recreate_containers = frames.recreate()
    workloads = frames.workloads()
    return {
        "convergence": lambda: viz.convergence(workloads),
        "capacity": lambda: viz.capacity(workloads),
        "timeline-inplace": lambda: viz.timeline(inplace_pods, inplace_containers),
        "timeline-recreate": lambda: viz.timeline(recreate_pods, recreate_containers),
        "compare": lambda: viz.compare(frames.strategy_runs()),
        "compare_curves": lambda: viz.compare_curves({"a": workloads, "b": workloads}),
        "placement": lambda: viz.placement(recreate_pods, frames.nodes()),
        "disruptions": lambda: viz.disruptions(frames.disruption_attempts()),
    }


EMPTY = {
    "convergence": lambda: viz.convergence(pd.DataFrame()),
    "capacity": lambda: viz.capacity(frames.workloads().iloc[0:0]),
    "timeline": lambda: viz.timeline(pd.DataFrame(), pd.DataFrame()),
    "compare": lambda: viz.compare({}),
    "compare_curves": lambda: viz.compare_curves({"a": pd.DataFrame()}),
    "placement": lambda: viz.placement(pd.DataFrame(), None),
    "disruptions": lambda: viz.disruptions(pd.DataFrame(columns=frames.DISRUPTION_COLUMNS)),
}


@pytest.mark.parametrize("name", list(EMPTY))
def test_an_empty_frame_gives_an_empty_figure_that_says_why(name):
    figure = EMPTY[name]()
    assert figure.data == ()
    (note,) = figure.layout.annotations
    assert note.text and figure.layout.title.text


@pytest.mark.parametrize("name", list(builders()))
def test_the_same_frames_give_the_identical_figure(name):
    assert builders()[name]().to_json() == builders()[name]().to_json()


@pytest.mark.parametrize("name", list(builders()))
def test_every_figure_has_a_title_the_kitlib_template_and_titled_axes(name):
    figure = builders()[name]()
    assert figure.layout.title.text
    assert figure.layout.template.layout.colorway == viz.PALETTE
    if name != "compare":  # small multiples carry their units in the panel titles
        assert figure.layout.xaxis.title.text or figure.layout.xaxis2.title.text
        assert figure.layout.yaxis.title.text


def test_builders_leave_their_input_frames_untouched():
    pods, containers = frames.recreate()
    workloads, nodes = frames.workloads(), frames.nodes()
    copies = [frame.copy() for frame in (pods, containers, workloads, nodes)]
    viz.timeline(pods, containers)
    viz.placement(pods, nodes, color_by="revision")
    viz.convergence(workloads)
    viz.capacity(workloads)
    for before, after in zip(copies, (pods, containers, workloads, nodes), strict=True):
        pd.testing.assert_frame_equal(before, after)


def test_the_palette_is_okabe_ito():
    assert set(viz.PALETTE) == {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442",
                                "#0072B2", "#D55E00", "#CC79A7"}


def test_image_colours_follow_versions_in_natural_order_whatever_the_input_order():
    images = ["app:v1.10", "proxy:1.20", "app:v1.9", "registry:5000/app:v2", "app:v1.9"]
    colours = viz.image_colors(images)
    assert list(colours) == ["app:v1.9", "app:v1.10", "proxy:1.20", "registry:5000/app:v2"]
    assert list(colours.values()) == list(viz.PALETTE[:4])
    assert viz.image_colors(reversed(images)) == colours
    assert viz.image_colors(["", "app@sha256:ab"]) == {"app@sha256:ab": viz.PALETTE[0]}


ALLOWED = {"pandas", "numpy", "plotly", "kitlib"}
ALLOWED_KITLIB = ("kitlib.viz", "kitlib.model")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    return names | {node.module for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module and not node.level}


def test_viz_imports_only_pandas_numpy_plotly_and_kitlib_model():
    package = Path(kitlib.viz.__file__).parent
    for path in sorted(package.glob("*.py")):
        for name in imports(path):
            top = name.split(".")[0]
            assert top in ALLOWED | sys.stdlib_module_names | {"__future__"}, (path.name, name)
            if top == "kitlib":
                assert name.startswith(ALLOWED_KITLIB), (path.name, name)
