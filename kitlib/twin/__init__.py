"""Rehearse on a twin: predict what a drain, a node failure or a rollout will do, first.

A **twin** is an embedded cluster (``kitlib.connect(nodes=0, seed=…)``, a child
process) holding the same nodes — capacity, allocatable, labels, taints — workloads,
Services, PodDisruptionBudgets and SidecarSets as a set of manifests or a real cluster,
populated through the API only. Rehearsing an operation on it predicts how long the
real one will take to converge, which evictions budgets will refuse, and how many pods
of each workload will be unavailable at worst::

    import kitlib.twin

    with kitlib.twin.from_manifests(kitlib.twin.sample("shop")) as twin:
        print(twin.rehearse_drain("node-3"))
        # Draining node-3 blocks: pod pay-x cannot be evicted: PDB pay allows 0 ...

    real = kitlib.connect(kubeconfig="~/.kube/config")          # read-only is enough
    with kitlib.twin.from_cluster(real, namespaces=("shop",)) as twin:
        print(twin.notes)                                        # what was not copied
        print(twin.rehearse_rollout("cloneset/cart", images={"cart": "cart:2.0"}))

From a real cluster, the pods' behaviour becomes the twin's: the sizes of the images
the nodes hold become ``images.sim.kitlib.io`` objects (and the nodes keep them, so
pulls cost what they would), and each workload's measured readiness delay (a pod's
``Ready`` transition minus its last container start) becomes its template's
``sim.kitlib.io/ready-after-seconds``. See ``kitlib.twin.twin`` for how rehearsals
stay repeatable (a fresh fork per rehearsal) and ``kitlib.twin.rehearse`` for how each
is run and measured.

The twin layer sits on ``kitlib.client`` and never imports the embedded cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kitlib.twin.capture import capture
from kitlib.twin.objects import Source, load, sanitize, without_daemonsets
from kitlib.twin.prediction import BlockedEviction, Prediction
from kitlib.twin.twin import Twin, TwinNotSettledError, build

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kitlib.client.cluster import Cluster

__all__ = ["BlockedEviction", "Prediction", "Twin", "TwinNotSettledError", "from_cluster",
           "from_manifests", "sample", "samples"]

_SAMPLES = Path(__file__).parent / "samples"


def samples() -> list[str]:
    """The names of the sample setups shipped with kitlib (``sample(name)`` loads one)."""
    return sorted(p.name for p in _SAMPLES.iterdir() if p.is_dir())


def sample(name: str) -> Path:
    """The directory of a shipped sample's manifests, for ``from_manifests``.

    ``"shop"``: 20 nodes in two zones (two of them tainted for batch work), four apps —
    ``pay`` (a CloneSet whose PDB has ``maxUnavailable: 0``), ``web`` (a Deployment of 10,
    PDB 10%), ``cart`` (a CloneSet of 6, PDB 1), ``catalog`` (a StatefulSet of 3, PDB 1) —
    a log-agent SidecarSet, Services and Image sizes.

    Raises:
        ValueError: no sample has that name (the message lists them).
    """
    path = _SAMPLES / name
    if not path.is_dir():
        raise ValueError(f"no sample {name!r}; kitlib ships {', '.join(samples())}")
    return path


def from_manifests(source: Source, *, seed: int = 0, nodes: int | None = None,
                   settle_timeout: float = 600.0) -> Twin:
    """A twin holding the objects of ``source``, settled.

    Args:
        source: YAML text, a file, a directory of manifests, dicts, or a list of these.
            Nodes are Node objects (their ``status.capacity``/``allocatable`` are kept;
            defaults fill what is missing); server-set fields are ignored; DaemonSets
            are left out, with a note (the twin has no DaemonSet controller).
        seed: the twin's seed (same seed and manifests, same twin).
        nodes: generic nodes to add (``node-0``…, 8 CPUs each) besides the Node objects.
        settle_timeout: cluster seconds to wait for every workload to converge.

    Raises:
        TwinNotSettledError: a workload did not converge (the message says why).
    """
    objects, notes = without_daemonsets([sanitize(obj) for obj in load(source)])
    return build(objects, seed=seed, nodes=nodes, notes=notes, settle_timeout=settle_timeout)


def from_cluster(real: Cluster, *, namespaces: Sequence[str] = ("default",), seed: int = 0,
                 settle_timeout: float = 600.0) -> Twin:
    """A twin of ``real``: its nodes, and the workloads, Services, budgets and SidecarSets
    of ``namespaces``, with behaviour read from its pods (``kitlib.twin.capture``).

    Only reads ``real`` (a read-only handle is enough). What could not be copied is in
    the twin's ``notes``.

    Args:
        real: the cluster to copy.
        namespaces: the namespaces whose objects are copied.
        seed: the twin's seed.
        settle_timeout: cluster seconds to wait for every workload to converge.

    Raises:
        TwinNotSettledError: a workload did not converge in the twin.
    """
    objects, notes = capture(real, namespaces=tuple(namespaces))
    return build(objects, seed=seed, notes=notes, settle_timeout=settle_timeout)
