"""Image references, the Image sim kind and its catalog, a node's image store, and the
serialized puller (missing layers only, shared pulls, seeded failures)."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Hashable
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from kitlib.apiserver.app import ApiServerApp
from kitlib.apiserver.simapi import SimClock
from kitlib.cluster import EmbeddedCluster
from kitlib.cluster.kubelet.images import IMAGE, ImageCatalog, Layer, parse_reference
from kitlib.cluster.kubelet.puller import ImagePuller, NodeImages, PullOutcome
from kitlib.engine.loop import Engine
from kitlib.model import errors

MB = 1_000_000


@pytest.mark.parametrize(("image", "name"), [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.25", "docker.io/library/nginx:1.25"),
    ("shop/web:v2", "docker.io/shop/web:v2"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("example.com:5000/team/app:1.0-rc.1", "example.com:5000/team/app:1.0-rc.1"),
    ("nginx@sha256:" + "ab" * 32, "docker.io/library/nginx@sha256:" + "ab" * 32),
])
def test_references_are_normalized_as_containerd_reports_them(image: str, name: str) -> None:
    ref = parse_reference(image)
    assert ref is not None and ref.name == name


@pytest.mark.parametrize("image", ["", " nginx", "Nginx:1", "nginx:", "nginx@sha256:xyz",
                                   "nginx:bad/tag", "a//b"])
def test_invalid_references_are_none(image: str) -> None:
    assert parse_reference(image) is None


def test_image_ids_hash_the_name_and_do_not_depend_on_the_seed() -> None:
    ref = parse_reference("nginx:1.25")
    assert ref is not None
    digest = hashlib.sha256(b"docker.io/library/nginx:1.25").hexdigest()
    assert ref.image_id == f"docker.io/library/nginx@sha256:{digest}"


def image(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "sim.kitlib.io/v1alpha1", "kind": "Image", "metadata": {"name": name},
            "spec": spec}


def test_unknown_images_have_the_default_size_split_into_a_repository_base_and_a_tag() -> None:
    catalog = ImageCatalog(100 * MB)
    v1, v2, other = (catalog.resolve(i) for i in ("shop:v1", "shop:v2", "cart:v1"))
    assert v1 is not None and v2 is not None and other is not None
    assert [layer.size for layer in v1.layers] == [70 * MB, 30 * MB]
    assert v1.layers[0] == v2.layers[0] != other.layers[0]
    assert v1.layers[1] != v2.layers[1]
    assert (v1.size, v1.pullable, v1.failure_rate) == (100 * MB, True, 0.0)


def test_an_image_object_describes_one_image_or_every_tag_of_a_repository() -> None:
    catalog = ImageCatalog(100 * MB)
    catalog.put(image("broken", image="shop:v3", pullable=False))
    catalog.put(image("shop", image="shop:*", sizeBytes=500 * MB, behavior={"startSeconds": 9}))
    catalog.put(image("layered", image="cart:v1",
                      layers=[{"digest": "sha256:os", "sizeBytes": 5}, {"digest": "x", "sizeBytes": 7}]))
    v3, v1, cart = (catalog.resolve(i) for i in ("shop:v3", "shop:v1", "cart:v1"))
    assert v3 is not None and not v3.pullable and v3.size == 100 * MB
    assert v1 is not None and (v1.size, dict(v1.behaviour)) == (500 * MB, {"startSeconds": 9})
    assert cart is not None and (cart.size, cart.layers) == (
        12, (Layer("sha256:os", 5), Layer("x", 7)))
    catalog.remove(image("shop"))
    resolved = catalog.resolve("shop:v1")
    assert resolved is not None and resolved.size == 100 * MB


def test_the_image_kind_is_validated_on_write() -> None:
    cluster = EmbeddedCluster()
    with pytest.raises(errors.Invalid) as raised:
        cluster.create(image("bad", image="Shop", pullFailureRate=2, behavior={"startSeconds": -1}))
    assert raised.value.message == (
        'Image.sim.kitlib.io "bad" is invalid: [spec.image: Invalid value: \'Shop\': must be an '
        'image reference (e.g. "nginx:1.25") or a repository with ":*" for all its tags, '
        "spec.pullFailureRate: Invalid value: 2: must be between 0 and 1, "
        "spec.behavior.startSeconds: Invalid value: -1: must be a number of seconds, at least 0]")
    cluster.create(image("ok", image="shop:*", pullFailureRate=0.5))
    assert cluster.kubelets.catalog.resolve("shop:v9").failure_rate == 0.5  # type: ignore[union-attr]
    assert cluster.store.verify_integrity() == []


def test_images_are_served_by_the_api_server_with_strict_field_validation() -> None:
    cluster = EmbeddedCluster()
    clock = SimClock.create(cluster, mode="stepped", speed=20, wall=time.monotonic)
    path = "/apis/sim.kitlib.io/v1alpha1/images"
    with TestClient(ApiServerApp(cluster, clock, token=None)) as http:
        kinds = [r["kind"] for r in http.get("/apis/sim.kitlib.io/v1alpha1").json()["resources"]]
        assert "Image" in kinds and "Clock" in kinds
        typo = image("a", image="shop:v1", sizeByte=5)
        answer = http.post(path + "?fieldValidation=Strict", content=orjson.dumps(typo))
        assert (answer.status_code, answer.json()["message"]) == (
            400, 'strict decoding error: unknown field "spec.sizeByte"')
        assert http.post(path, content=orjson.dumps(image("a", image="shop:v1"))).status_code == 201
    assert cluster.registry.get(IMAGE.key).kind == "Image"


# -- a node's images and its puller -----------------------------------------------------

def test_a_node_pulls_only_the_layers_it_does_not_have() -> None:
    catalog, images = ImageCatalog(100 * MB), NodeImages()
    v1, v2 = catalog.resolve("shop:v1"), catalog.resolve("shop:v2")
    assert v1 is not None and v2 is not None
    assert images.missing_bytes(v1) == 100 * MB
    images.add(v1)
    assert (images.present(v1), images.present(v2), images.missing_bytes(v2)) == (
        True, False, 30 * MB)


def test_node_status_images_are_the_largest_first_with_digest_and_tag_names() -> None:
    catalog, images = ImageCatalog(100 * MB), NodeImages()
    catalog.put(image("big", image="big:1", sizeBytes=300 * MB))
    for name in ("small:1", "big:1"):
        info = catalog.resolve(name)
        assert info is not None
        images.add(info)
    big = parse_reference("big:1")
    assert big is not None
    assert images.status_images()[0] == {"names": [big.image_id, "docker.io/library/big:1"],
                                         "sizeBytes": 300 * MB}


class Recorder:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.done: list[tuple[float, Hashable, bool, float, float]] = []

    def __call__(self, waiter: Hashable, outcome: PullOutcome, requested_at: float) -> None:
        self.done.append((self.engine.now, waiter, outcome.ok, outcome.seconds, requested_at))


def puller(catalog: ImageCatalog, *, rng: random.Random | None = None,
           bandwidth: float = 100 * MB) -> tuple[Engine, ImagePuller, Recorder]:
    engine = Engine()
    recorder = Recorder(engine)
    return engine, ImagePuller(engine, NodeImages(), bandwidth=lambda: bandwidth,
                               failure_seconds=1.0, jitter=0.0, rng=rng or random.Random(0),
                               on_done=recorder), recorder


def test_pulls_run_one_at_a_time_and_a_second_request_joins_a_running_pull() -> None:
    catalog = ImageCatalog(100 * MB)
    engine, pulls, rec = puller(catalog)
    shop, cart = catalog.resolve("shop:v1"), catalog.resolve("cart:v1")
    assert shop is not None and cart is not None
    pulls.request(shop, "a")
    pulls.request(cart, "b")
    engine.advance(0.5)
    pulls.request(shop, "c")
    engine.run()
    assert rec.done == [(1.0, "a", True, 1.0, 0.0), (1.0, "c", True, 1.0, 0.5),
                        (2.0, "b", True, 1.0, 0.0)]


def test_a_slow_node_pulls_at_its_own_bandwidth() -> None:
    catalog = ImageCatalog(100 * MB)
    engine, pulls, rec = puller(catalog, bandwidth=10 * MB)
    info = catalog.resolve("shop:v1")
    assert info is not None
    pulls.request(info, "a")
    engine.run()
    assert rec.done == [(10.0, "a", True, 10.0, 0.0)]


def test_unpullable_images_fail_after_the_failure_time_and_cache_nothing() -> None:
    catalog = ImageCatalog(100 * MB)
    catalog.put(image("gone", image="shop:gone", pullable=False))
    engine, pulls, rec = puller(catalog)
    info = catalog.resolve("shop:gone")
    assert info is not None
    pulls.request(info, "a")
    engine.run()
    assert rec.done == [(1.0, "a", False, 1.0, 0.0)] and not pulls.images.present(info)


def test_flaky_registries_fail_the_same_pulls_for_the_same_seed() -> None:
    catalog = ImageCatalog(MB)
    catalog.put(image("flaky", image="shop:*", pullFailureRate=0.5))

    def outcomes(seed: int) -> list[bool]:
        engine, pulls, rec = puller(catalog, rng=random.Random(seed))
        for i in range(20):
            info = catalog.resolve(f"shop:v{i}")
            assert info is not None
            pulls.request(info, i)
        engine.run()
        return [ok for _, _, ok, _, _ in rec.done]

    assert outcomes(1) == outcomes(1) != outcomes(2)
    assert 0 < outcomes(1).count(False) < 20


def test_a_cancelled_request_is_not_answered_and_a_queued_pull_nobody_wants_is_dropped() -> None:
    catalog = ImageCatalog(100 * MB)
    engine, pulls, rec = puller(catalog)
    shop, cart = catalog.resolve("shop:v1"), catalog.resolve("cart:v1")
    assert shop is not None and cart is not None
    pulls.request(shop, "a")
    pulls.request(cart, "b")
    pulls.cancel("b")
    pulls.cancel("a")
    engine.run()
    assert rec.done == [] and pulls.images.present(shop) and not pulls.images.present(cart)
