"""Recorders and metrics: watch streams and samples into tidy pandas DataFrames.

``Recorder(cluster)`` samples pods, containers, workloads, nodes and disruptions of a
namespace into a ``Recording`` (frames: ``kitlib.observe.schema.FRAMES``), whose
``metrics()`` derive time to converge, peak unavailability against the budget, pods
rescheduled, IP and node changes, app-container restarts, image bytes pulled, serving
capacity and the modelled cache warmth (``CacheWarmth``) per workload. Like the client
layer it speaks only the Kubernetes API, so it records a real cluster the same way.
"""

from kitlib.observe.recorder import Recorder
from kitlib.observe.recording import Recording
from kitlib.observe.schema import FRAMES, METRICS
from kitlib.observe.warmth import CacheWarmth

__all__ = ["FRAMES", "METRICS", "CacheWarmth", "Recorder", "Recording"]
