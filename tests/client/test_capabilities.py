"""``capabilities``, ``require`` and the Deployment fallback against ``kitlib serve`` with
and without the OpenKruise kinds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

import kitlib
from kitlib.client.capabilities import (
    FEATURES,
    capabilities,
    fallback_note,
    preferred_workload_kind,
    require,
)
from kitlib.client.errors import INSTALL_KRUISE, MissingCapabilityError

if TYPE_CHECKING:
    from conftest import ThreadedServer

KRUISE_KINDS = {"CloneSet", "AdvancedStatefulSet", "SidecarSet", "ContainerRecreateRequest",
                "ImagePullJob", "NodeImage", "PodUnavailableBudget"}
CORE = {"PodDisruptionBudget", "Eviction", "EndpointSlice", "Endpoints"}


@pytest.fixture
def plain(start_api_server: Callable[..., ThreadedServer]) -> Iterator[kitlib.Cluster]:
    """An embedded cluster without OpenKruise: a plain Kubernetes cluster."""
    with kitlib.connect(kubeconfig=start_api_server(kruise=False).kubeconfig) as cluster:
        yield cluster


@pytest.fixture
def kruise(start_api_server: Callable[..., ThreadedServer]) -> Iterator[kitlib.Cluster]:
    with kitlib.connect(kubeconfig=start_api_server().kubeconfig) as cluster:
        yield cluster


def test_without_kruise_openkruise_is_missing_with_the_helm_hint(plain: kitlib.Cluster) -> None:
    caps = capabilities(plain)
    assert caps.embedded and caps.clock_mode == "stepped" and not caps.kruise
    assert caps.kinds.keys() == CORE
    assert caps.kinds["PodDisruptionBudget"].api_version == "policy/v1"
    assert caps.server_version.startswith("v1.")
    assert caps.kruise_manager_note == "not installed"
    [missing] = caps.missing()
    assert missing.feature == "OpenKruise" and missing.remedy == INSTALL_KRUISE
    assert "fall back to Deployments" in missing.meaning
    report = caps.report()
    assert any(line.split()[:2] == ["OpenKruise", "missing"] for line in report.splitlines())
    assert INSTALL_KRUISE in report and "CloneSet" not in report.split("missing:")[0]
    assert "<table>" in caps._repr_html_() and "helm install kruise" in caps._repr_html_()


def test_without_kruise_require_raises_and_workloads_fall_back_to_deployments(
        plain: kitlib.Cluster) -> None:
    for feature in ("CloneSet", "clone", "Advanced StatefulSet", "SidecarSet", "pub",
                    "OpenKruise"):
        with pytest.raises(MissingCapabilityError, match="helm install kruise") as info:
            require(plain, feature)
        assert info.value.feature == feature
    for feature in ("PodDisruptionBudget", "pdb", "Eviction", "EndpointSlice", "simulation",
                    "writes", "CloneSetPartitionRollback"):
        require(plain, feature)
    assert preferred_workload_kind(plain) == "Deployment"
    note = fallback_note(plain)
    assert note.startswith("This cluster does not serve CloneSet, so a Deployment is used")
    assert "in-place updates" in note and "partition" in note and INSTALL_KRUISE in note
    assert "PodDisruptionBudget" in fallback_note(plain, "PodUnavailableBudget")
    with pytest.raises(ValueError, match="no fallback"):
        fallback_note(plain, "Deployment")
    with pytest.raises(ValueError, match="unknown feature 'Teleport'; known: CloneSet"):
        require(plain, "Teleport")


def test_with_kruise_every_kind_is_served_and_nothing_is_missing(kruise: kitlib.Cluster) -> None:
    caps = capabilities(kruise)
    assert caps.kruise and caps.kinds.keys() == KRUISE_KINDS | CORE
    assert caps.kinds["CloneSet"].api_version == "apps.kruise.io/v1alpha1"
    assert caps.kinds["AdvancedStatefulSet"].api_version == "apps.kruise.io/v1beta1"
    assert caps.kinds["PodUnavailableBudget"].group == "policy.kruise.io"
    assert caps.kruise_manager_note == "simulated by kitlib"
    assert caps.feature_gates is None, "a server started elsewhere: its gates are unknown"
    assert caps.missing() == []
    assert caps.server_accepts_writes is True
    for feature in KRUISE_KINDS | {"OpenKruise", "PodUnavailableBudgetUpdateGate"}:
        require(kruise, feature)
    assert preferred_workload_kind(kruise) == "CloneSet"
    assert fallback_note(kruise) == ""
    assert {f.name for f in FEATURES if not f.optional} <= caps.kinds.keys()


def test_gates_of_a_started_cluster_are_known_and_off_ones_are_missing() -> None:
    with kitlib.connect(feature_gates="CloneSetPartitionRollback=true") as cluster:
        caps = capabilities(cluster)
        assert caps.feature_gates is not None and caps.feature_gates[
            "CloneSetPartitionRollback"]
        require(cluster, "CloneSetPartitionRollback")
        with pytest.raises(MissingCapabilityError, match=r"featureGates=.*UpdateGate=true"):
            require(cluster, "PodUnavailableBudgetUpdateGate")
        missing = [m.feature for m in caps.missing()]
    assert missing == ["feature gate PodUnavailableBudgetUpdateGate",
                       "feature gate PreDownloadImageForInPlaceUpdate"]
    assert "CloneSetPartitionRollback=true" in caps.report()


def test_capabilities_are_cached_per_handle_until_refreshed(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    server = start_api_server()
    with kitlib.connect(kubeconfig=server.kubeconfig) as one, \
            kitlib.connect(kubeconfig=server.kubeconfig, allow_writes=False) as two:
        first = capabilities(one)
        assert capabilities(one) is first
        assert capabilities(two) is not first and not capabilities(two).allow_writes
        refreshed = capabilities(one, refresh=True)
        assert refreshed is not first and refreshed == first
        assert capabilities(one) is refreshed
