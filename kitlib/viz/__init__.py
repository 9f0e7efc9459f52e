"""Pure plot builders: recorder DataFrames in, plotly Figures out.

Every builder takes frames shaped like ``kitlib.observe``'s ``Recording`` frames (see
the schema there: ``time`` is cluster time in seconds) and returns a new
``plotly.graph_objects.Figure``. Builders hold no state, read no cluster and never
modify their input; the same frames always give the same figure (``fig.to_json()`` is
identical). An empty frame gives an empty figure that says what is missing, never an
exception. All figures share one template (``TEMPLATE``) and the Okabe–Ito palette
(``PALETTE``), which stays readable with the common forms of colour blindness.

Builders:
    - ``convergence``: replica counts of a workload and its maxUnavailable budget.
    - ``capacity``: serving capacity and cache hit rate per workload.
    - ``timeline``: a pod/container Gantt chart, in-place changes vs replacements.
    - ``compare`` / ``compare_curves``: strategies side by side.
    - ``placement``: a node × pod map grouped by zone.
    - ``disruptions``: evictions allowed vs refused.

This package imports only pandas, numpy, plotly and ``kitlib.model``.
"""

from kitlib.viz._compare import (
    DEFAULT_METRICS,
    METRIC_FORMATS,
    MetricFormat,
    compare,
    compare_curves,
)
from kitlib.viz._convergence import capacity, convergence
from kitlib.viz._disruptions import disruptions
from kitlib.viz._placement import placement
from kitlib.viz._style import PALETTE, TEMPLATE, image_colors
from kitlib.viz._timeline import timeline

__all__ = ["DEFAULT_METRICS", "METRIC_FORMATS", "PALETTE", "TEMPLATE", "MetricFormat", "capacity",
           "compare", "compare_curves", "convergence", "disruptions", "image_colors", "placement",
           "timeline"]
