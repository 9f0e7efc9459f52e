"""``explain`` on workloads, SidecarSets and pods: each stuck or surprising situation is
made on a real ``kitlib serve`` over HTTPS through the API, then explained.

One module-scoped cluster (3 nodes, ``PodUnavailableBudgetUpdateGate`` on, as a PUB-
guarded in-place update needs it); every test works in its own namespace, and cluster-
scoped SidecarSets have distinct names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import kitlib
from kitlib.client.explain import Explanation, explain
from kitlib.client.ops import MERGE, request_json
from kitlib.client.raw import get_json
from tests.conftest import ThreadedServer

PROBE = "readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 2}"

CLONESET = """
apiVersion: v1
kind: Namespace
metadata: {name: __NS__}
---
apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata: {name: web, namespace: __NS__}
spec:
  replicas: 4
  minReadySeconds: __MIN_READY__
  selector: {matchLabels: {app: web}}
  updateStrategy: {type: InPlaceIfPossible, maxUnavailable: __MAX_UNAVAILABLE__,
                   partition: __PARTITION__, paused: __PAUSED__}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: app, image: "example.com/web:v1", __PROBE__}
"""

IMAGES = """
apiVersion: sim.kitlib.io/v1alpha1
kind: Image
metadata: {name: web-slow}
spec: {image: "example.com/web:slow", behavior: {readyAfterSeconds: 600}}
---
apiVersion: sim.kitlib.io/v1alpha1
kind: Image
metadata: {name: web-typo}
spec: {image: "example.com/web:typo", pullable: false}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kitlib.Cluster]:
    server = ThreadedServer(
        tmp_path_factory.mktemp("explain"), nodes=3,
        feature_gates="PodUnavailableBudgetUpdateGate=true").start()
    try:
        with kitlib.connect(kubeconfig=server.kubeconfig) as handle:
            handle.apply(IMAGES)
            yield handle
    finally:
        server.stop()


def cloneset(cluster: kitlib.Cluster, ns: str, *, max_unavailable: str = "'10%'",
             partition: int = 0, paused: str = "false", min_ready: int = 0) -> None:
    manifest = (CLONESET.replace("__NS__", ns)
                .replace("__MAX_UNAVAILABLE__", max_unavailable)
                .replace("__PARTITION__", str(partition)).replace("__PAUSED__", paused)
                .replace("__MIN_READY__", str(min_ready)).replace("__PROBE__", PROBE))
    cluster.apply(manifest)
    cluster.sleep(20)


def patch(cluster: kitlib.Cluster, path: str, body: dict[str, Any]) -> None:
    request_json(cluster.api_client, "PATCH", path, body=body, content_type=MERGE)


def set_image(cluster: kitlib.Cluster, ns: str, image: str) -> None:
    patch(cluster, f"/apis/apps.kruise.io/v1alpha1/namespaces/{ns}/clonesets/web",
          {"spec": {"template": {"spec": {"containers": [
              {"name": "app", "image": image, "readinessProbe": {
                  "httpGet": {"path": "/", "port": 80}, "periodSeconds": 2}}]}}}})


def pods(cluster: kitlib.Cluster, ns: str) -> list[dict[str, Any]]:
    return get_json(cluster.api_client, f"/api/v1/namespaces/{ns}/pods")["items"]


def updated_pod(cluster: kitlib.Cluster, ns: str) -> str:
    revision = get_json(cluster.api_client, f"/apis/apps.kruise.io/v1alpha1/namespaces/{ns}/"
                        "clonesets/web")["status"]["updateRevision"]
    names = [p["metadata"]["name"] for p in pods(cluster, ns)
             if p["metadata"]["labels"]["controller-revision-hash"] == revision]
    assert len(names) == 1, names
    return names[0]


def show(explanation: Explanation) -> Explanation:
    """Print the explanation (shown by pytest when a test fails) and check its shape."""
    print(explanation)
    assert str(explanation).startswith(explanation.target)
    assert explanation.summary and "<table" in explanation._repr_html_()
    return explanation


# -- CloneSet rollouts ------------------------------------------------------------------

def test_an_updated_pod_that_is_not_ready_holds_the_rollout(cluster: kitlib.Cluster) -> None:
    cloneset(cluster, "slow")
    set_image(cluster, "slow", "example.com/web:slow")
    cluster.sleep(30)
    pod = updated_pod(cluster, "slow")
    result = show(explain(cluster, "cloneset/web", "slow"))
    budget = result.finding("max-unavailable")
    assert budget is not None and budget.severity == "waiting"
    assert budget.message == (f"maxUnavailable 10% of 4 rounds up to 1; {pod} is not ready, "
                              "so no other pod is updated until it is")
    assert result.finding("not-ready") is not None
    assert result.facts["updated"] == 1 and result.facts["max_unavailable"] == 1


def test_a_failing_image_pull_during_an_in_place_update_is_the_reason(
        cluster: kitlib.Cluster) -> None:
    cloneset(cluster, "typo")
    set_image(cluster, "typo", "example.com/web:typo")
    cluster.sleep(30)
    pod = updated_pod(cluster, "typo")
    result = show(explain(cluster, "cloneset/web", "typo"))
    assert result.severity == "error" and result.codes[0] == "image-pull"
    pull = result.finding("image-pull")
    assert pull is not None
    assert pull.message.startswith(f"container app of pod {pod} cannot pull "
                                   "example.com/web:typo: ")
    assert re.search(r"(ErrImagePull|ImagePullBackOff)", pull.message)
    assert "it still runs example.com/web:v1, so its in-place update cannot finish" in \
        pull.message
    assert "fix the image reference" in pull.hint
    budget = result.finding("max-unavailable")
    assert budget is not None and f"{pod} is not ready, so no other pod" in budget.message
    assert show(explain(cluster, f"pod/{pod}", "typo")).codes[0] == "image-pull"


def test_partition_keeps_pods_on_the_old_revision_by_design(cluster: kitlib.Cluster) -> None:
    cloneset(cluster, "part", max_unavailable="2", partition=2)
    set_image(cluster, "part", "example.com/web:v2")
    cluster.sleep(30)
    result = show(explain(cluster, "cloneset/web", "part"))
    assert result.severity == "info"
    found = result.finding("partition")
    assert found is not None
    assert found.message == ("partition 2 keeps 2 pods on the old revision by design "
                             "(2 of 4 updated)")


def test_raising_partition_does_not_roll_pods_back(cluster: kitlib.Cluster) -> None:
    cloneset(cluster, "raise", max_unavailable="2", partition=2)
    set_image(cluster, "raise", "example.com/web:v2")
    cluster.sleep(30)
    patch(cluster, "/apis/apps.kruise.io/v1alpha1/namespaces/raise/clonesets/web",
          {"spec": {"updateStrategy": {"partition": 3}}})
    cluster.sleep(10)
    result = show(explain(cluster, "cloneset/web", "raise"))
    found = result.finding("partition-no-rollback")
    assert found is not None and found.severity == "info"
    assert found.message.startswith("raising partition does not roll pods back unless "
                                    "CloneSetPartitionRollback is on: partition 3 asks for 3 "
                                    "old pods, 2 are old, and the 2 updated pods stay updated")


def test_a_paused_cloneset_updates_nothing(cluster: kitlib.Cluster) -> None:
    cloneset(cluster, "paused", paused="true")
    set_image(cluster, "paused", "example.com/web:v2")
    cluster.sleep(10)
    result = show(explain(cluster, "web", "paused"))
    assert result.codes[0] == "paused" and result.severity == "blocked"
    assert "4 more pod(s) should move to revision" in result.findings[0].message
    assert "paused to false" in result.findings[0].hint


def test_min_ready_seconds_paces_the_rollout(cluster: kitlib.Cluster) -> None:
    cloneset(cluster, "mrs", max_unavailable="1", min_ready=30)
    cluster.sleep(30)
    set_image(cluster, "mrs", "example.com/web:v2")
    cluster.sleep(8)
    pod = updated_pod(cluster, "mrs")
    result = show(explain(cluster, "cloneset/web", "mrs"))
    assert result.severity == "waiting"
    budget = result.finding("max-unavailable")
    assert budget is not None and budget.message == (
        f"maxUnavailable 1; {pod} is not yet available, so no other pod is updated until it is")
    pacing = result.finding("min-ready")
    assert pacing is not None
    match = re.fullmatch(rf"pod {pod} has been ready for (\d+) s; minReadySeconds 30 makes it "
                         r"available in (\d+) s more", pacing.message)
    assert match and int(match[1]) + int(match[2]) == 30 and int(match[2]) > 0


def test_a_pod_held_by_an_in_place_update_hook_waits_for_its_label(
        cluster: kitlib.Cluster) -> None:
    cloneset(cluster, "hook", max_unavailable="1")
    patch(cluster, "/apis/apps.kruise.io/v1alpha1/namespaces/hook/clonesets/web", {"spec": {
        "lifecycle": {"inPlaceUpdate": {"labelsHandler": {"example.io/hold": "true"}}},
        "template": {"metadata": {"labels": {"app": "web", "example.io/hold": "true"}}}}})
    cluster.sleep(30)
    set_image(cluster, "hook", "example.com/web:v3")
    cluster.sleep(10)
    result = show(explain(cluster, "cloneset/web", "hook"))
    found = result.finding("lifecycle-hook")
    assert found is not None and found.severity == "waiting"
    held = re.fullmatch(r"pod (web-\w+) is PreparingUpdate: the lifecycle.inPlaceUpdate hook "
                        "holds it — it is updated once it no longer carries example.io/hold=true",
                        found.message)
    assert held, found.message
    budget = result.finding("max-unavailable")
    assert budget is not None and budget.message == (
        f"maxUnavailable 1; {held[1]} is not yet available, so no other pod is updated until it is")


@pytest.mark.parametrize("strategy", ["ReCreate", "InPlaceIfPossible"])
def test_a_pod_unavailable_budget_at_zero_blocks_an_update(
        cluster: kitlib.Cluster, strategy: str) -> None:
    """With PodUnavailableBudgetUpdateGate (on in this cluster) the CloneSet controller asks
    the PUB before updating any pod, in place or by recreate, so none is touched."""
    namespace = f"pub-{strategy.lower()}"
    cloneset(cluster, namespace, max_unavailable="1")
    cluster.apply(f"""
apiVersion: policy.kruise.io/v1alpha1
kind: PodUnavailableBudget
metadata: {{name: web, namespace: {namespace}}}
spec: {{selector: {{matchLabels: {{app: web}}}}, maxUnavailable: 0}}
""")
    patch(cluster, f"/apis/apps.kruise.io/v1alpha1/namespaces/{namespace}/clonesets/web",
          {"spec": {"updateStrategy": {"type": strategy}}})
    cluster.sleep(5)
    set_image(cluster, namespace, "example.com/web:v2")
    cluster.sleep(10)
    result = show(explain(cluster, "cloneset/web", namespace))
    found = result.finding("pub-blocked")
    assert found is not None and found.severity == "blocked"
    assert found.message.startswith(
        "update refused: PodUnavailableBudget web allows 0 unavailable pods (desires 4 "
        "available, has 4), so the rollout cannot take another pod down"), found.message
    assert result.codes == ["pub-blocked"]
    assert result.facts["updated"] == 0 and len(pods(cluster, namespace)) == 4


def test_a_converged_cloneset_has_nothing_to_do(cluster: kitlib.Cluster) -> None:
    cloneset(cluster, "done")
    result = show(explain(cluster, "cloneset/web", "done"))
    assert result.codes == ["converged"]
    assert result.findings[0].message.startswith("nothing to do: all 4 pods run revision web-")
    assert result.summary.startswith("converged (4 of 4 pods updated, 4 available)")


# -- SidecarSets -------------------------------------------------------------------------

SIDECAR_APP = """
apiVersion: v1
kind: Namespace
metadata: {name: __NS__}
---
apiVersion: apps.kruise.io/v1alpha1
kind: SidecarSet
metadata: {name: __SIDECARSET__}
spec:
  namespace: __NS__
  selector: {matchLabels: {app: shop}}
  containers:
  - {name: proxy, image: "example.com/proxy:v1"}
---
apiVersion: apps.kruise.io/v1alpha1
kind: CloneSet
metadata: {name: shop, namespace: __NS__}
spec:
  replicas: 3
  selector: {matchLabels: {app: shop}}
  updateStrategy: {type: InPlaceIfPossible}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
      - {name: app, image: "example.com/shop:v1"}
"""


def sidecar_app(cluster: kitlib.Cluster, ns: str, sidecarset: str, extra: str = "") -> None:
    cluster.apply(SIDECAR_APP.replace("__NS__", ns).replace("__SIDECARSET__", sidecarset)
                  + extra)
    cluster.sleep(20)


def set_proxy(cluster: kitlib.Cluster, sidecarset: str, **fields: Any) -> None:
    patch(cluster, f"/apis/apps.kruise.io/v1alpha1/sidecarsets/{sidecarset}",
          {"spec": {"containers": [{"name": "proxy", **fields}]}})
    cluster.sleep(20)


def test_a_sidecarset_change_beyond_images_does_not_upgrade_running_pods(
        cluster: kitlib.Cluster) -> None:
    sidecar_app(cluster, "sc-env", "mesh-env")
    set_proxy(cluster, "mesh-env", image="example.com/proxy:v2",
              env=[{"name": "MODE", "value": "strict"}])
    result = show(explain(cluster, "sidecarset/mesh-env"))
    found = result.finding("sidecar-not-upgradable")
    assert found is not None and found.severity == "blocked"
    assert found.message.startswith("the SidecarSet mesh-env changed a field other than "
                                    "image, so running pods are not upgraded: 3 pods (")
    assert "recreate those pods" in found.hint
    workload = show(explain(cluster, "cloneset/shop", "sc-env"))
    assert "sidecar-not-upgradable" in workload.codes
    pod = pods(cluster, "sc-env")[0]["metadata"]["name"]
    assert "sidecar-not-upgradable" in show(explain(cluster, f"pod/{pod}", "sc-env")).codes


def test_a_pod_unavailable_budget_at_zero_blocks_a_sidecar_upgrade(
        cluster: kitlib.Cluster) -> None:
    pub = """
---
apiVersion: policy.kruise.io/v1alpha1
kind: PodUnavailableBudget
metadata: {name: shop, namespace: sc-pub}
spec: {selector: {matchLabels: {app: shop}}, maxUnavailable: 0}
"""
    sidecar_app(cluster, "sc-pub", "mesh-pub", pub)
    set_proxy(cluster, "mesh-pub", image="example.com/proxy:v2")
    result = show(explain(cluster, "sidecarset/mesh-pub"))
    found = result.finding("pub-blocked")
    assert found is not None and found.severity == "blocked"
    assert found.message.startswith(
        "update refused: PodUnavailableBudget shop allows 0 unavailable pods (desires 3 "
        "available, has 3), so the SidecarSet mesh-pub cannot take another pod down")
    assert result.summary.startswith("0 of 3 pods have the current sidecars")
    assert "pub-blocked" in show(explain(cluster, "cloneset/shop", "sc-pub")).codes


def test_a_sidecarset_partition_keeps_pods_on_the_old_sidecar(cluster: kitlib.Cluster) -> None:
    sidecar_app(cluster, "sc-part", "mesh-part")
    patch(cluster, "/apis/apps.kruise.io/v1alpha1/sidecarsets/mesh-part",
          {"spec": {"updateStrategy": {"partition": 2}}})
    set_proxy(cluster, "mesh-part", image="example.com/proxy:v2")
    cluster.sleep(20)
    result = show(explain(cluster, "sidecarset/mesh-part"))
    assert result.codes == ["sidecar-partition"] and result.severity == "info"
    assert result.findings[0].message == ("partition 2 keeps 2 pod(s) on the old sidecar of "
                                          "mesh-part by design")
    assert result.facts["updatedPods"] == 1


def test_a_sidecarset_image_change_upgrades_in_place(cluster: kitlib.Cluster) -> None:
    sidecar_app(cluster, "sc-ok", "mesh-ok")
    set_proxy(cluster, "mesh-ok", image="example.com/proxy:v2")
    cluster.sleep(30)
    assert show(explain(cluster, "sidecarset/mesh-ok")).codes == ["converged"]


# -- Deployments and pods ------------------------------------------------------------------

DEPLOYMENT = """
apiVersion: v1
kind: Namespace
metadata: {name: __NS__}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: __NAME__, namespace: __NS__}
spec:
  replicas: 3
  progressDeadlineSeconds: 60
  selector: {matchLabels: {app: __NAME__}}
  template:
    metadata: {labels: {app: __NAME__}, annotations: __ANNOTATIONS__}
    spec:
      containers:
      - name: app
        image: "example.com/web:v1"
        resources: {requests: {cpu: __CPU__}}
"""


def deployment(cluster: kitlib.Cluster, ns: str, name: str, *, cpu: str = "100m",
               annotations: str = "{}", extra: str = "") -> None:
    cluster.apply(DEPLOYMENT.replace("__NS__", ns).replace("__NAME__", name)
                  .replace("__CPU__", cpu).replace("__ANNOTATIONS__", annotations) + extra)
    cluster.sleep(20)


def test_an_eviction_is_refused_by_a_pdb_with_no_room(cluster: kitlib.Cluster) -> None:
    pdb = """
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: api, namespace: pdb}
spec: {minAvailable: 3, selector: {matchLabels: {app: api}}}
"""
    deployment(cluster, "pdb", "api", extra=pdb)
    pod = pods(cluster, "pdb")[0]["metadata"]["name"]
    result = show(explain(cluster, f"pod/{pod}", "pdb"))
    assert result.codes == ["eviction-refused"] and result.severity == "blocked"
    assert result.findings[0].message == (f"eviction of pod {pod} refused: PDB api allows 0 "
                                          "disruptions (needs 3 healthy, has 3)")
    assert cluster.evict(pod, "pdb").reason == \
        "The disruption budget api needs 3 healthy pods and has 3 currently"
    workload = show(explain(cluster, "deployment/api", "pdb"))
    assert workload.finding("pdb-zero") is not None
    assert workload.facts["budgets"]["pdb/api"]["disruptionsAllowed"] == 0


def test_a_pod_that_fits_no_node_quotes_the_scheduler(cluster: kitlib.Cluster) -> None:
    deployment(cluster, "big", "big", cpu="500")
    pod = pods(cluster, "big")[0]["metadata"]["name"]
    result = show(explain(cluster, f"pod/{pod}", "big"))
    found = result.finding("unschedulable")
    assert found is not None and found.severity == "blocked"
    assert found.message.startswith(f"pod {pod} pending: 0/3 nodes are available: "
                                    "3 Insufficient cpu")
    assert "free capacity" in found.hint
    workload = show(explain(cluster, "deployment/big", "big"))
    assert workload.finding("unschedulable") is not None


def test_a_crash_looping_container_shows_restarts_and_back_off(
        cluster: kitlib.Cluster) -> None:
    deployment(cluster, "crash", "crash",
               annotations="{sim.kitlib.io/crash-on-start: 'true'}")
    cluster.sleep(40)
    pod = pods(cluster, "crash")[0]["metadata"]["name"]
    result = show(explain(cluster, f"pod/{pod}", "crash"))
    found = result.finding("crash-loop")
    assert found is not None and found.severity == "error"
    assert re.fullmatch(rf"container app of pod {pod} is crash-looping: restarted \d+ times, "
                        r"last exit code 1 \(Error\); the kubelet waits a back-off of \d+s "
                        "before the next restart", found.message), found.message


def test_a_deployment_past_its_progress_deadline(cluster: kitlib.Cluster) -> None:
    deployment(cluster, "deadline", "api")
    patch(cluster, "/apis/apps/v1/namespaces/deadline/deployments/api",
          {"spec": {"template": {"spec": {"containers": [
              {"name": "app", "image": "example.com/web:typo"}]}}}})
    cluster.sleep(90)
    result = show(explain(cluster, "deployment/api", "deadline"))
    found = result.finding("progress-deadline")
    assert found is not None and found.severity == "error"
    assert found.message.startswith("the rollout made no progress for progressDeadlineSeconds "
                                    "60 s: ReplicaSet ")
    assert result.finding("image-pull") is not None
    budget = result.finding("max-unavailable")
    assert budget is not None and budget.message.startswith(
        "maxSurge 25% of 3 rounds up to 1 and maxUnavailable 25% "
        "of 3 rounds down to 0: 4 pods exist (at most 4) and 3 are available (at least 3 must "
        "be), so no pod is added or removed until ")


def test_a_paused_deployment_rolls_out_nothing(cluster: kitlib.Cluster) -> None:
    deployment(cluster, "dpaused", "api")
    patch(cluster, "/apis/apps/v1/namespaces/dpaused/deployments/api",
          {"spec": {"paused": True, "template": {"spec": {"containers": [
              {"name": "app", "image": "example.com/web:v2"}]}}}})
    cluster.sleep(10)
    result = show(explain(cluster, "deployment/api", "dpaused"))
    assert result.codes[0] == "paused" and result.severity == "blocked"


def test_unknown_targets_say_so(cluster: kitlib.Cluster) -> None:
    assert explain(cluster, "pod/nope", "default").codes == ["not-found"]
    assert explain(cluster, "node/nope").codes == ["not-found"]
    assert explain(cluster, "sidecarset/nope").codes == ["not-found"]
    assert explain(cluster, "cloneset/nope", "default").codes == ["not-found"]
    with pytest.raises(kitlib.errors.NotFound):
        explain(cluster, "nope", "default")


def test_explaining_needs_no_writes(cluster: kitlib.Cluster) -> None:
    cloneset(cluster, "readonly")
    with kitlib.connect(kubeconfig=cluster.kubeconfig, allow_writes=False) as reader:
        assert explain(reader, "cloneset/web", "readonly").codes == ["converged"]


STATEFULSET = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "example.com/db:v1"}]
"""


def test_without_openkruise_plain_kinds_are_explained_and_kruise_ones_skipped(
        start_api_server: Callable[..., ThreadedServer]) -> None:
    server = start_api_server(nodes=2, kruise=False)
    with kitlib.connect(kubeconfig=server.kubeconfig) as plain:
        plain.apply(STATEFULSET)
        plain.sleep(30)
        patch(plain, "/apis/apps/v1/namespaces/default/statefulsets/db",
              {"spec": {"template": {"spec": {"containers": [
                  {"name": "db", "image": "example.com/db:v2"}]}}}})
        plain.sleep(60)
        result = show(explain(plain, "db"))
        assert result.target == "statefulset/db" and result.codes == ["partition"]
        assert result.findings[0].message == ("partition 1 keeps 1 pod on the old revision by "
                                              "design (2 of 3 updated)")
        obj = get_json(plain.api_client, "/apis/apps/v1/namespaces/default/statefulsets/db")
        assert explain(plain, obj).codes == ["partition"]
        pod = get_json(plain.api_client, "/api/v1/namespaces/default/pods/db-0")
        assert explain(plain, pod).codes == ["running"]
        assert explain(plain, "sidecarset/mesh").codes == ["not-found"]
