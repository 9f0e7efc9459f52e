"""``cluster.apply``: kubectl's client-side apply against ``kitlib serve`` over HTTPS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import orjson
import pytest
import yaml

import kitlib
from kitlib.client.ops import LAST_APPLIED, WritesNotAllowedError, load_manifest
from kitlib.client.raw import get_json

if TYPE_CHECKING:
    from conftest import ThreadedServer

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: "nginx:1.25"}
      - {name: agent, image: "agent:1"}
"""

CLONESET = """
apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata:
  name: shop
  labels: {app: shop, tier: back}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers: [{name: app, image: "shop:1"}]
  updateStrategy: {type: InPlaceIfPossible, partition: 1}
"""


@pytest.fixture
def cluster(start_api_server: Callable[..., ThreadedServer]) -> Iterator[kitlib.Cluster]:
    server = start_api_server(nodes=3)
    with kitlib.connect(kubeconfig=server.kubeconfig) as handle:
        yield handle


def actions(results: list[Any]) -> list[tuple[str, str, str]]:
    return [(r.kind, r.name, r.action) for r in results]


def get(cluster: kitlib.Cluster, path: str) -> dict[str, Any]:
    return get_json(cluster.api_client, path)


def test_apply_creates_then_configures_then_leaves_unchanged(cluster: kitlib.Cluster) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    assert actions(cluster.apply(DEPLOYMENT)) == [("Deployment", "web", "created")]
    live = get(cluster, path)
    recorded = orjson.loads(live["metadata"]["annotations"][LAST_APPLIED])
    assert recorded["spec"]["replicas"] == 2 and recorded["metadata"]["namespace"] == "default"
    assert actions(cluster.apply(DEPLOYMENT)) == [("Deployment", "web", "unchanged")]
    cluster.sleep(5)  # the controllers add status and defaults: still nothing to apply
    assert actions(cluster.apply(DEPLOYMENT)) == [("Deployment", "web", "unchanged")]

    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3")
    assert actions(cluster.apply(changed)) == [("Deployment", "web", "configured")]
    assert get(cluster, path)["spec"]["replicas"] == 3
    assert actions(cluster.apply(changed)) == [("Deployment", "web", "unchanged")]


def test_fields_removed_from_the_manifest_are_removed(cluster: kitlib.Cluster) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    cluster.apply(DEPLOYMENT)
    trimmed = yaml.safe_load(DEPLOYMENT)
    del trimmed["metadata"]["labels"]["tier"]
    del trimmed["spec"]["template"]["spec"]["containers"][1]
    assert actions(cluster.apply(trimmed)) == [("Deployment", "web", "configured")]
    live = get(cluster, path)
    assert live["metadata"]["labels"] == {"app": "web"}
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["app"]


def test_fields_set_by_other_writers_are_kept(cluster: kitlib.Cluster) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    cluster.apply(DEPLOYMENT)
    apps = kitlib.client.cluster.k8s.AppsV1Api(cluster.api_client)
    apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"owner": "ops"}}})
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 1")
    assert actions(cluster.apply(changed)) == [("Deployment", "web", "configured")]
    assert get(cluster, path)["metadata"]["labels"] == {"app": "web", "tier": "front",
                                                        "owner": "ops"}


def test_a_custom_kind_is_applied_with_a_json_merge_patch(cluster: kitlib.Cluster) -> None:
    path = "/apis/apps.kruise.io/v1alpha1/namespaces/default/clonesets/shop"
    assert actions(cluster.apply(CLONESET)) == [("CloneSet", "shop", "created")]
    assert actions(cluster.apply(CLONESET)) == [("CloneSet", "shop", "unchanged")]
    changed = (CLONESET.replace("shop:1", "shop:2").replace("partition: 1", "partition: 0")
               .replace(", tier: back", ""))
    assert actions(cluster.apply(changed)) == [("CloneSet", "shop", "configured")]
    live = get(cluster, path)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "shop:2"
    assert live["spec"]["updateStrategy"]["partition"] == 0
    assert live["metadata"]["labels"] == {"app": "shop"}


def test_manifests_come_as_text_paths_dicts_and_lists(cluster: kitlib.Cluster,
                                                      tmp_path: Any) -> None:
    both = DEPLOYMENT + "---\n" + CLONESET
    manifest = tmp_path / "apps.yaml"
    manifest.write_text(both)
    assert len(load_manifest(both)) == len(load_manifest(manifest)) == 2
    assert len(load_manifest(str(manifest))) == 2
    with pytest.raises(FileNotFoundError):
        load_manifest(str(tmp_path / "missing.yaml"))
    assert len(load_manifest({"kind": "List", "items": load_manifest(both)})) == 2
    assert actions(cluster.apply(manifest)) == [("Deployment", "web", "created"),
                                                ("CloneSet", "shop", "created")]
    assert actions(cluster.apply(load_manifest(both))) == [("Deployment", "web", "unchanged"),
                                                           ("CloneSet", "shop", "unchanged")]


def test_namespace_comes_from_the_object_or_the_handle(cluster: kitlib.Cluster) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
              "data": {"a": "1"}}
    [result] = cluster.apply(config)
    assert result.namespace == "default"
    cluster.namespace = "shop"
    [result] = cluster.apply(config)
    assert (result.namespace, result.action) == ("shop", "created")
    assert get(cluster, "/api/v1/namespaces/shop/configmaps/c")["data"] == {"a": "1"}


def test_an_unknown_kind_is_a_clear_not_found(cluster: kitlib.Cluster) -> None:
    with pytest.raises(kitlib.errors.NotFound, match='no kind "Gadget"'):
        cluster.apply({"apiVersion": "v1", "kind": "Gadget", "metadata": {"name": "g"}})
    with pytest.raises(kitlib.errors.NotFound, match=r"does not serve example\.com/v1"):
        cluster.apply({"apiVersion": "example.com/v1", "kind": "Gadget",
                       "metadata": {"name": "g"}})


def test_dry_run_validates_without_storing(cluster: kitlib.Cluster) -> None:
    assert actions(cluster.apply(DEPLOYMENT, dry_run=True)) == [("Deployment", "web", "created")]
    with pytest.raises(kitlib.errors.NotFound):
        get(cluster, "/apis/apps/v1/namespaces/default/deployments/web")
    cluster.allow_writes = False
    assert actions(cluster.apply(DEPLOYMENT, dry_run=True)) == [("Deployment", "web", "created")]


def test_a_read_only_handle_refuses_to_apply(cluster: kitlib.Cluster) -> None:
    cluster.allow_writes = False
    with pytest.raises(WritesNotAllowedError, match="allow_writes=True"):
        cluster.apply(DEPLOYMENT)
    with pytest.raises(kitlib.errors.NotFound):
        get(cluster, "/apis/apps/v1/namespaces/default/deployments/web")
