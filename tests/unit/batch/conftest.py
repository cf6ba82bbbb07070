"""One local SparkSession for every batch test in the process (start-up dominates)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from salespulse.batch.session import local_session

    # getOrCreate: the integration tests' fixture gets this same session back.
    yield local_session(master="local[2]", shuffle_partitions=2, app="salespulse-tests")
