"""ReCreate, InPlaceIfPossible's fallback, InPlaceOnly and admission of CloneSets.

Upstream: ``test/e2e/apps/cloneset.go`` (recreate / in-place cases),
``pkg/webhook/cloneset/validating/cloneset_validation_test.go``,
``apis/apps/defaults/v1alpha1.go``; reference §1.1, §1.8.
"""

from __future__ import annotations

import pytest

from kitlib.cluster import EmbeddedCluster
from kitlib.model import errors
from tests.cluster.kruise.cloneset_world import (
    advance_until,
    change,
    cloneset,
    converged,
    get,
    pods,
    set_image,
    statuses,
)


def marked(cluster: EmbeddedCluster) -> set[str]:
    return {n for n, p in pods(cluster).items()
            if "apps.kruise.io/specified-delete" in p["metadata"]["labels"]}


def test_recreate_replaces_every_pod_with_a_new_name_after_marking_it(
        cluster: EmbeddedCluster) -> None:
    """Given 3 pods with ReCreate, when an image changes, then each old pod is first
    labelled ``apps.kruise.io/specified-delete``, then deleted and replaced by a pod with
    a new name and UID, one at a time (maxUnavailable 20 % of 3 = 1)."""
    cluster.create(cloneset(replicas=3, strategy={"type": "ReCreate"}))
    advance_until(cluster, lambda: converged(cluster))
    before = pods(cluster)
    ever_marked: set[str] = set()
    cluster.engine.on_event = lambda *_: ever_marked.update(marked(cluster))
    set_image(cluster, 2, "envoy:2")
    advance_until(cluster, lambda: converged(cluster))
    cluster.engine.on_event = None
    after = pods(cluster)
    assert not after.keys() & before.keys()
    assert ever_marked == set(before)
    assert {p["metadata"]["uid"] for p in after.values()}.isdisjoint(
        p["metadata"]["uid"] for p in before.values())
    assert all(statuses(p)["mesh"]["restartCount"] == 0 for p in after.values())


def test_an_env_change_under_in_place_if_possible_recreates(cluster: EmbeddedCluster) -> None:
    """Upstream ``pkg/util/inplaceupdate/inplace_update_test.go``
    TestCalculateInPlaceUpdateSpec, last case (image changed and an env var added -> no
    in-place spec), which makes ``cloneset_update.go`` recreate the pod.
    Given 2 ready pods under InPlaceIfPossible; when container 0 gains env MODE=fast,
    then both pods are replaced by 2 pods with new names that carry the env."""
    cluster.create(cloneset(replicas=2))
    advance_until(cluster, lambda: converged(cluster))
    before = set(pods(cluster))

    def env(cs: dict[str, object]) -> None:
        cs["spec"]["template"]["spec"]["containers"][0]["env"] = [  # type: ignore[index]
            {"name": "MODE", "value": "fast"}]
    change(cluster, env)
    advance_until(cluster, lambda: converged(cluster))
    assert not set(pods(cluster)) & before
    assert all(p["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "fast"}]
               for p in pods(cluster).values())


def test_in_place_only_rejects_a_non_image_change_and_accepts_an_image_change(
        cluster: EmbeddedCluster) -> None:
    """Upstream ``pkg/webhook/cloneset/validating/validation_test.go`` case
    "invalid-cloneset-update-1" and ``pkg/controller/cloneset/core/cloneset_core.go``
    ``ValidateCloneSetUpdate`` (the e2e ``test/e2e/apps/v1alpha1/cloneset.go`` VCT test
    then updates an image under InPlaceOnly without recreating).
    Given 1 replica with updateStrategy.type InPlaceOnly; when container 0 gains an env
    var, then the update is denied with "spec: Forbidden: only allowed to update images in
    spec for InPlaceOnly, but found add /containers/0/env"; when only container 1's image
    changes, then the update is accepted."""
    cluster.create(cloneset(replicas=1, strategy={"type": "InPlaceOnly"}))

    def env(cs: dict[str, object]) -> None:
        cs["spec"]["template"]["spec"]["containers"][0]["env"] = [  # type: ignore[index]
            {"name": "MODE", "value": "fast"}]
    with pytest.raises(errors.Invalid) as caught:
        change(cluster, env)
    assert caught.value.message == (
        'admission webhook "vcloneset.kb.io" denied the request: spec: Forbidden: '
        "only allowed to update images in spec for InPlaceOnly, but found add "
        "/containers/0/env")
    set_image(cluster, 1, "agent:2")
    assert get(cluster)["spec"]["template"]["spec"]["containers"][1]["image"] == "agent:2"


def test_defaults_are_upstreams(cluster: EmbeddedCluster) -> None:
    body = cloneset(strategy={"type": "InPlaceIfPossible"})
    del body["spec"]["replicas"]
    spec = cluster.create(body)["spec"]
    assert spec["replicas"] == 1 and spec["revisionHistoryLimit"] == 10
    assert spec["updateStrategy"] == {"type": "InPlaceIfPossible", "partition": 0,
                                      "maxUnavailable": "20%", "maxSurge": 0,
                                      "inPlaceUpdateStrategy": {}}
    assert cluster.create(cloneset("plain", strategy={}))["spec"]["updateStrategy"][
        "type"] == "ReCreate"


@pytest.mark.parametrize(("strategy", "message"), [
    ({"type": "ReCreate", "maxUnavailable": 0, "maxSurge": 0},
     "spec.updateStrategy.maxUnavailable: Invalid value: 0: maxUnavailable and maxSurge "
     "should not both be less than 1"),
    ({"type": "InPlaceOnly", "maxSurge": 1},
     "spec.updateStrategy.maxSurge: Invalid value: 1: can not use maxSurge with strategy "
     "type InPlaceOnly"),
    ({"type": "ReCreate", "partition": "5"},
     "spec.updateStrategy.partition: Invalid value: \"5\": a valid percent string must be "
     "a numeric string followed by an ending '%' (e.g. '1%',  or '93%')"),
])
def test_the_webhook_rejects_invalid_strategies(cluster: EmbeddedCluster, strategy: dict[
        str, object], message: str) -> None:
    with pytest.raises(errors.Invalid) as caught:
        cluster.create(cloneset(strategy=strategy))
    assert caught.value.message == (
        f'admission webhook "vcloneset.kb.io" denied the request: {message}')


def test_the_selector_is_immutable(cluster: EmbeddedCluster) -> None:
    cluster.create(cloneset(replicas=1))

    def selector(cs: dict[str, object]) -> None:
        cs["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}  # type: ignore[index]
        cs["spec"]["template"]["metadata"]["labels"]["tier"] = "x"  # type: ignore[index]
    with pytest.raises(errors.Invalid, match="updates to cloneset spec for fields other than"):
        change(cluster, selector)


def test_in_place_only_that_cannot_update_in_place_reports_failed_update(
        cluster: EmbeddedCluster) -> None:
    """An env change made under ReCreate with every pod held by partition, then the type
    switched to InPlaceOnly: the controller may not recreate, so it reports FailedUpdate
    and leaves the pods alone."""
    cluster.create(cloneset(replicas=2, strategy={"type": "ReCreate", "partition": 2}))
    advance_until(cluster, lambda: converged(cluster))
    before = set(pods(cluster))

    def env(cs: dict[str, object]) -> None:
        cs["spec"]["template"]["spec"]["containers"][0]["env"] = [  # type: ignore[index]
            {"name": "MODE", "value": "fast"}]
    change(cluster, env)
    change(cluster, lambda cs: cs["spec"].__setitem__(
        "updateStrategy", {"type": "InPlaceOnly", "partition": 0}))
    cluster.advance(30)
    assert set(pods(cluster)) == before
    [failed] = get(cluster)["status"]["conditions"]
    assert (failed["type"], failed["status"]) == ("FailedUpdate", "True")
    assert failed["message"].endswith(
        "update strategy is InPlaceOnly but can not update in-place")
