"""A session-scoped HDFS mini-cluster for the tests that talk to HDFS directly."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.hdfs import mini_hdfs


@pytest.fixture(scope="session")
def hdfs_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``hdfs://127.0.0.1:<port>`` of a fresh mini-cluster, stopped after the session."""
    with mini_hdfs(tmp_path_factory.mktemp("hdfs")) as uri:
        yield uri
