from __future__ import annotations

from collections.abc import Iterator

import pytest

from kitlib.cluster import ClusterSettings, EmbeddedCluster
from kitlib.store import Store, StoreSettings


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    c = EmbeddedCluster(ClusterSettings(seed=1, store=StoreSettings(history_size=50)))
    yield c
    assert c.store.verify_integrity() == [], "someone mutated a stored object"


@pytest.fixture
def store(cluster: EmbeddedCluster) -> Store:
    return cluster.store
