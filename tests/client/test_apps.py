"""The example apps: manifests (pure), and deployed over HTTP against ``kitlib serve``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import kitlib
from kitlib.client.apps import DEFAULT_IMAGES
from kitlib.client.raw import get_json
from tests.conftest import ThreadedServer


def containers(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in workload["spec"]["template"]["spec"]["containers"]}


# -- manifests -------------------------------------------------------------------------------

def test_the_example_app_is_a_three_container_workload_with_a_service_and_a_pdb() -> None:
    workload, service, pdb = kitlib.example_app()
    assert (workload["apiVersion"], workload["kind"]) == ("apps.kruise.io/v1alpha1", "CloneSet")
    assert workload["metadata"] == {"name": "shop", "labels": {"app": "shop"}}
    assert workload["spec"]["replicas"] == 6
    assert workload["spec"]["selector"] == {"matchLabels": {"app": "shop"}}
    assert workload["spec"]["updateStrategy"] == {"type": "InPlaceIfPossible"}
    found = containers(workload)
    assert list(found) == ["app", "agent", "mesh-proxy"]
    assert {n: c["image"] for n, c in found.items()} == {
        "app": "nginx:1.25", "agent": "busybox:1.36",
        "mesh-proxy": "nginxinc/nginx-unprivileged:1.25"}
    assert all(c["resources"]["requests"].keys() == {"cpu", "memory"} for c in found.values())
    assert found["app"]["readinessProbe"]["httpGet"] == {"path": "/", "port": "http"}
    assert found["agent"]["command"] == ["sleep", "infinity"]
    assert "annotations" not in workload["spec"]["template"]["metadata"]
    assert (service["kind"], service["spec"]["selector"]) == ("Service", {"app": "shop"})
    assert pdb["spec"] == {"maxUnavailable": "10%", "selector": {"matchLabels": {"app": "shop"}}}


def test_the_example_app_takes_its_images_sizes_knobs_and_labels() -> None:
    manifests = kitlib.example_app(
        "web", replicas=2, kind="Deployment", images={"sidecar": "envoyproxy/envoy:v1.30"},
        strategy="Recreate", pdb_max_unavailable=None, namespace="prod",
        ready_after_seconds=12.5, labels={"team": "a"}, sim={"app.start-seconds": 3})
    assert [m["kind"] for m in manifests] == ["Deployment", "Service"]
    workload = manifests[0]
    assert workload["spec"]["strategy"] == {"type": "Recreate"}
    assert workload["metadata"] == {"name": "web", "namespace": "prod",
                                    "labels": {"app": "web", "team": "a"}}
    assert workload["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    template = workload["spec"]["template"]["metadata"]
    assert template["labels"] == {"app": "web", "team": "a"}
    assert template["annotations"] == {"sim.kitlib.io/app.ready-after-seconds": "12.5",
                                       "sim.kitlib.io/app.start-seconds": "3"}
    assert containers(workload)["mesh-proxy"]["image"] == "envoyproxy/envoy:v1.30"
    rolling = kitlib.example_app(kind="Deployment", max_unavailable=1)[0]["spec"]["strategy"]
    assert rolling == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}


@pytest.mark.parametrize(("options", "message"), [
    ({"kind": "DaemonSet"}, 'not a "DaemonSet"'),
    ({"kind": "auto"}, 'kind="auto" asks the cluster'),
    ({"strategy": "Recreate"}, 'a CloneSet has no strategy "Recreate"; use one of '
                               "InPlaceIfPossible, InPlaceOnly, ReCreate"),
    ({"images": {"db": "postgres"}}, r"unknown roles \['db'\]; the roles are app, agent, sidecar"),
    ({"kind": "Deployment", "strategy": "Recreate", "max_unavailable": 1},
     "a Recreate Deployment has no maxUnavailable"),
])
def test_the_example_app_refuses_what_it_cannot_build(options: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kitlib.example_app(**options)


def test_the_example_sidecarset_injects_a_mesh_proxy_or_a_log_agent() -> None:
    mesh = kitlib.example_sidecarset(selector={"app": "shop"})
    assert (mesh["apiVersion"], mesh["kind"], mesh["metadata"]) == (
        "apps.kruise.io/v1alpha1", "SidecarSet", {"name": "mesh"})
    assert mesh["spec"]["selector"] == {"matchLabels": {"app": "shop"}}
    assert [(c["name"], c["image"]) for c in mesh["spec"]["containers"]] == [
        ("mesh", DEFAULT_IMAGES["sidecar"])]
    assert mesh["spec"]["updateStrategy"] == {"type": "RollingUpdate", "maxUnavailable": 1}
    logging = kitlib.example_sidecarset("logging", selector={"app": "shop"}, namespace="prod",
                                        containers=[{"name": "log-agent",
                                                     "image": "busybox:1.36"}])
    assert logging["spec"]["namespace"] == "prod"
    assert [c["name"] for c in logging["spec"]["containers"]] == ["log-agent"]


# -- on a cluster ----------------------------------------------------------------------------

def test_deploy_example_picks_a_cloneset_and_a_sidecarset_injects_into_it(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    server = start_api_server(nodes=2)
    with kitlib.connect(kubeconfig=server.kubeconfig) as cluster:
        assert kitlib.example_app(kind="auto", cluster=cluster)[0]["kind"] == "CloneSet"
        cluster.apply(kitlib.example_sidecarset(selector={"app": "shop"}))
        results = cluster.deploy_example(replicas=2, ready_after_seconds=5)
        assert [(r.kind, r.action) for r in results] == [
            ("CloneSet", "created"), ("Service", "created"), ("PodDisruptionBudget", "created")]
        assert 5 <= cluster.wait_converged("shop", timeout=300) < 60
        pods = get_json(cluster.api_client, "/api/v1/namespaces/default/pods",
                        labelSelector="app=shop")["items"]
        assert [[c["name"] for c in p["spec"]["containers"]] for p in pods] == [
            ["mesh", "app", "agent", "mesh-proxy"]] * 2
        assert all(p["status"]["phase"] == "Running" for p in pods)
        endpoints = get_json(cluster.api_client, "/api/v1/namespaces/default/endpoints/shop")
        assert len(endpoints["subsets"][0]["addresses"]) == 2
        pdb = get_json(cluster.api_client,
                       "/apis/policy/v1/namespaces/default/poddisruptionbudgets/shop")
        assert pdb["status"]["disruptionsAllowed"] == 1, "10% of 2 rounds up to 1"
        assert [r.action for r in cluster.deploy_example(replicas=2, ready_after_seconds=5)] \
            == ["unchanged"] * 3
