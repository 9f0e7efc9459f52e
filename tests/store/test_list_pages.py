"""Listing with selectors, limits and continue tokens equals the obvious definition.

``Store.list_objects`` keeps a sorted key list per kind between writes and
stops at the page limit; this checks it against "select everything, sort by
(namespace, name), drop what is not after the token, cut at the limit", across
random creates, label changes and deletes between pages.
"""

from __future__ import annotations

import random
from typing import Any

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.model.selectors import FieldSelector, LabelSelector
from kitlib.store import Store, StoreSettings

_NAMESPACES = ("a", "a-b", "ab", "b", "default")
_LABELS = (None, "x=1", "x!=1", "y=0,x=2", "x in (0,1)", "!y")
_FIELDS = (None, "metadata.name=c5", "metadata.namespace=a", "metadata.name!=c7")


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _reference(store: Store, ns: str | None, labels: str | None, fields: str | None,
               after: tuple[str, str] | None,
               limit: int | None) -> tuple[list[dict[str, Any]], int]:
    ls, fs = LabelSelector.parse(labels), FieldSelector.parse(fields)
    items = sorted((o for o in store.iter_objects("configmaps", ns)
                    if ls.matches(o["metadata"].get("labels")) and fs.matches(o)), key=_key)
    if after is not None:
        items = [o for o in items if _key(o) > after]
    if not limit or len(items) <= limit:
        return items, 0
    return items[:limit], len(items) - limit


def _walk(store: Store, rng: random.Random, ns: str | None, labels: str | None,
          fields: str | None, limit: int | None) -> None:
    token, after = None, None
    while True:
        page = store.list_objects("configmaps", namespace=ns,
                                  labels=LabelSelector.parse(labels),
                                  fields=FieldSelector.parse(fields), limit=limit,
                                  continue_token=token)
        items, remaining = _reference(store, ns, labels, fields, after, limit)
        assert [id(o) for o in page.items] == [id(o) for o in items]
        assert (page.remaining or 0) == remaining
        assert bool(page.continue_token) == bool(remaining)
        if not page.continue_token:
            return
        token, after = page.continue_token, _key(page.items[-1])
        _write(store, rng)  # the state may change between pages


def _write(store: Store, rng: random.Random) -> None:
    ns, name = rng.choice(_NAMESPACES), f"c{rng.randrange(60)}"
    labels = {"x": str(rng.randrange(3))}
    if rng.random() < 0.5:
        labels["y"] = str(rng.randrange(2))
    current = store.peek("configmaps", ns, name)
    if current is None:
        store.create("configmaps", {"metadata": {"name": name, "namespace": ns,
                                                 "labels": labels}})
    elif rng.random() < 0.5:
        store.delete("configmaps", ns, name)
    else:
        store.modify("configmaps", ns, name,
                     lambda o: o["metadata"].__setitem__("labels", labels))


def test_pages_match_the_reference_through_random_writes() -> None:
    # a long history: the writes between pages must not expire the continue tokens
    cluster = EmbeddedCluster(ClusterSettings(seed=1, store=StoreSettings(history_size=10_000)))
    store = cluster.store
    rng = random.Random(7)
    for ns in _NAMESPACES:
        if store.peek("namespaces", "", ns) is None:
            store.create("namespaces", {"metadata": {"name": ns}})
    for _ in range(150):
        _write(store, rng)
    for _ in range(150):
        _walk(store, rng, rng.choice((None, *_NAMESPACES)), rng.choice(_LABELS),
              rng.choice(_FIELDS), rng.choice((None, 0, 1, 3, 10, 500)))
        _write(store, rng)
    assert store.verify_integrity() == []


def test_select_and_an_unlimited_list_agree(cluster: EmbeddedCluster) -> None:
    store = cluster.store
    for ns in ("b", "a"):
        store.create("namespaces", {"metadata": {"name": ns}})
        for name in ("z", "m", "a"):
            store.create("configmaps", {"metadata": {"name": name, "namespace": ns}})
    names = [_key(o) for o in store.select("configmaps")]
    assert names == sorted(names) and len(names) == 6
    assert store.list_objects("configmaps").items == store.select("configmaps")
    assert [_key(o) for o in store.list_objects("configmaps", namespace="a").items] == [
        ("a", "a"), ("a", "m"), ("a", "z")]
