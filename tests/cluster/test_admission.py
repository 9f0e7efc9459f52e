"""Admission on an embedded cluster: pod, secret and service defaults, ClusterIP/NodePort
allocation, and upstream's ``Invalid`` details (the kind, not the resource)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.services import NODE_PORTS, SERVICE_CIDR
from kitlib.model import errors
from kitlib.store import Store


@pytest.fixture
def store() -> Iterator[Store]:
    cluster = EmbeddedCluster()
    yield cluster.store
    assert cluster.store.verify_integrity() == []


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec}}


def test_a_new_pod_gets_the_default_service_account_and_priority(store: Store) -> None:
    pod = store.create("pods", {"metadata": {"name": "p"},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    spec = pod["spec"]
    assert (spec["serviceAccountName"], spec["serviceAccount"]) == ("default", "default")
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")


def test_secret_string_data_is_merged_into_data_and_type_defaults(store: Store) -> None:
    secret = store.create("secrets", {"metadata": {"name": "s"}, "data": {"a": "YQ=="},
                                      "stringData": {"b": "bee"}})
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"a": "YQ==", "b": "YmVl"}
    assert "stringData" not in secret
    with pytest.raises(errors.Invalid, match=r"type: Invalid value.*field is immutable"):
        store.modify("secrets", "default", "s", lambda s: {**s, "type": "kubernetes.io/tls"})


def test_a_cluster_ip_service_is_defaulted_and_given_an_address(store: Store) -> None:
    spec = store.create("services", service("web"))["spec"]
    assert ipaddress.ip_address(spec["clusterIP"]) in SERVICE_CIDR
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert (spec["type"], spec["sessionAffinity"], spec["internalTrafficPolicy"]) == (
        "ClusterIP", "None", "Cluster")
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"]) == (["IPv4"], "SingleStack")


def test_node_ports_are_allocated_and_kept_on_update(store: Store) -> None:
    spec = store.create("services", service("np", type="NodePort"))["spec"]
    node_port = spec["ports"][0]["nodePort"]
    assert node_port in NODE_PORTS and spec["externalTrafficPolicy"] == "Cluster"
    updated = store.update("services", service("np", type="NodePort"))["spec"]
    assert updated["clusterIP"] == spec["clusterIP"]
    assert updated["ports"][0]["nodePort"] == node_port


def test_headless_and_external_name_services_get_no_address(store: Store) -> None:
    headless = store.create("services", service("h", clusterIP="None"))["spec"]
    assert (headless["clusterIP"], headless["clusterIPs"]) == ("None", ["None"])
    ext = store.create("services", {"metadata": {"name": "e"},
                                    "spec": {"type": "ExternalName",
                                             "externalName": "example.com"}})["spec"]
    assert "clusterIP" not in ext and "ipFamilies" not in ext


def test_a_taken_or_changed_cluster_ip_is_invalid(store: Store) -> None:
    store.create("services", service("a", clusterIP="10.96.0.50"))
    with pytest.raises(errors.Invalid, match="provided IP is already allocated") as taken:
        store.create("services", service("b", clusterIP="10.96.0.50"))
    assert taken.value.details["kind"] == "Service"
    with pytest.raises(errors.Invalid, match="not in the valid range"):
        store.create("services", service("c", clusterIP="192.168.0.1"))
    with pytest.raises(errors.Invalid, match="may not change once set"):
        store.update("services", service("a", clusterIP="10.96.0.51"))


def test_a_taken_node_port_is_invalid(store: Store) -> None:
    store.create("services", service("a", type="NodePort",
                                     ports=[{"port": 80, "nodePort": 30080}]))
    with pytest.raises(errors.Invalid, match="provided port is already allocated"):
        store.create("services", service("b", type="NodePort",
                                         ports=[{"port": 80, "nodePort": 30080}]))


def test_invalid_details_name_the_kind_and_group_with_one_cause_per_problem(
        store: Store) -> None:
    bad = {"metadata": {"name": "Web_1"},
           "spec": {"selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "c"}},
                                 "spec": {"containers": [{"name": "c"}]}}}}
    with pytest.raises(errors.Invalid) as caught:
        store.create("deployments.apps", bad)
    details = caught.value.details
    assert (details["kind"], details["group"], details["name"]) == ("Deployment", "apps",
                                                                   "Web_1")
    assert caught.value.message.startswith('Deployment.apps "Web_1" is invalid: [')
    assert {(c["field"], c["reason"]) for c in details["causes"]} == {
        ("spec.template.spec.containers[0].image", "FieldValueRequired"),
        ("spec.template.metadata.labels", "FieldValueInvalid"),
    }


def test_emptying_labels_or_annotations_removes_them(store: Store) -> None:
    store.create("configmaps", {"metadata": {"name": "c", "labels": {"a": "b"},
                                             "annotations": {"n": "x"}}})
    changed = store.modify("configmaps", "default", "c", lambda c: c["metadata"].update(
        labels={}, annotations=None))
    assert "labels" not in changed["metadata"] and "annotations" not in changed["metadata"]
