"""The look shared by every kitlib figure: palette, template, image colours, empty figures.

Invariants: colours come only from the Okabe–Ito palette (safe for the common forms of
colour blindness); every figure gets the same template; the same input always gets the
same colours, whatever order it arrives in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import plotly.graph_objects as go
import plotly.io as pio

#: Okabe–Ito colours in the order series take them: blue, orange, bluish green,
#: vermillion, reddish purple, sky blue, yellow, black.
PALETTE: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
)

BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK = PALETTE
GREY = "#999999"
LIGHT_GREY = "#E3E3E3"

TIME_AXIS = "cluster time (s)"


def _template() -> go.layout.Template:
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.colorway = PALETTE
    template.layout.font = {"family": "Arial, Helvetica, sans-serif", "size": 13}
    template.layout.title = {"x": 0.01, "xanchor": "left", "font": {"size": 17}}
    # below the x axis: a horizontal legend above the plot wraps upwards into the title
    # in a narrow notebook output
    template.layout.legend = {"orientation": "h", "yref": "container", "yanchor": "bottom",
                              "y": 0.0, "xanchor": "left", "x": 0.0}
    template.layout.margin = {"l": 70, "r": 30, "t": 70, "b": 130}
    template.layout.hoverlabel = {"namelength": -1}
    return template


#: The template every kitlib figure uses (plotly_white with the Okabe–Ito colorway).
TEMPLATE: go.layout.Template = _template()


#: A vertical legend right of the plot, for figures whose legend is long or whose
#: subplot titles take the space above the plot.
RIGHT_LEGEND = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"}


def count_axis(largest: float) -> dict[str, object]:
    """Y-axis settings for a count (pods, attempts): whole-number ticks from 0."""
    axis: dict[str, object] = {"rangemode": "tozero"}
    if largest <= 10:
        axis.update(tick0=0, dtick=1)
    return axis


def new_figure() -> go.Figure:
    """A blank figure with kitlib's template."""
    return go.Figure(layout={"template": TEMPLATE})


def empty_figure(title: str, message: str) -> go.Figure:
    """A figure with no data that says why, instead of an exception or a blank canvas.

    Args:
        title: the title the figure would have had.
        message: what is missing and how to get it, shown in the middle of the plot.

    Returns:
        A figure with the title, hidden axes and one centred annotation.
    """
    figure = new_figure()
    figure.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False})
    figure.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper",
                          showarrow=False, font={"size": 14, "color": GREY})
    return figure


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key where digit runs compare as numbers: v1.9 < v1.10."""
    chunks = re.findall(r"\d+|\D+", text)
    return tuple((0, int(c), "") if c.isdigit() else (1, 0, c) for c in chunks)


def image_key(image: str) -> tuple[object, ...]:
    """Sort key for images: by repository, then by version in natural order."""
    name = image.split("@", 1)[0]
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    return (repository, natural_key(tag), image)


def image_colors(images: Iterable[str]) -> dict[str, str]:
    """Give each image a stable colour, versions of one repository in order.

    Images are sorted by repository, then by tag in natural order (``v1.9`` before
    ``v1.10``), and take the palette's colours in that order (cycling past eight). The
    same set of images always gets the same colours, whatever order it is given in, so
    the widgets and every figure agree on which colour is which version.

    Args:
        images: image references (``repo:tag``, ``registry/repo:tag@sha256:...``);
            duplicates and empty strings are ignored.

    Returns:
        A mapping image → hex colour, in sorted order.
    """
    unique = sorted({image for image in images if image}, key=image_key)
    return {image: PALETTE[index % len(PALETTE)] for index, image in enumerate(unique)}


def ordered_colors(names: Iterable[str]) -> dict[str, str]:
    """Colours for series in order of first appearance (duplicates ignored)."""
    unique = list(dict.fromkeys(names))
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(unique)}
