"""Fixtures shared by the CloneSet tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kitlib.cluster import EmbeddedCluster
from tests.cluster.kruise.cloneset_world import make_cluster


@pytest.fixture
def cluster() -> Iterator[EmbeddedCluster]:
    """A 3-node cluster for CloneSets; at the end, no reconcile failed and no stored object
    was mutated. (Test modules with their own ``cluster`` fixture override this one.)"""
    c = make_cluster()
    yield c
    assert list(c.clonesets.runner.errors) == []
    assert c.store.verify_integrity() == []
