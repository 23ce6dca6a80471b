"""How pytest-xdist hands the tests to its worker processes: dealt out one at a time, like cards.

xdist's own ``load`` scheduling starts each worker on a consecutive block of the collection (a quarter
of its share), so the tests that ``tests/conftest.py`` puts first (the longest, then the slow ones) all
land on the first worker, which then runs them one after another while the others finish early and
wait. Dealing the same first blocks round-robin instead gives each worker its part of the long tests
from the start; after that xdist refills each worker from the rest as it goes, unchanged.
"""

from __future__ import annotations

from itertools import cycle

from xdist.scheduler import LoadScheduling


class DealtLoadScheduling(LoadScheduling):
    """xdist's ``load`` scheduling with the first tests dealt round-robin instead of in blocks."""

    def schedule(self) -> None:
        """Deal the initial batch one test at a time, then refill as ``load`` does."""
        assert self.collection_is_completed
        if self.collection is not None:  # a node added later: as ``load`` does
            super().schedule()
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
        self.pending[:] = range(len(self.collection))
        if not self.collection:
            return
        if self.maxschedchunk is None:
            self.maxschedchunk = len(self.collection)
        nodes = self.nodes
        per_node = max(2, min(len(self.collection) // len(nodes) // 4, self.maxschedchunk))
        dealer = cycle(nodes)
        for _ in range(min(len(self.pending), per_node * len(nodes))):
            self._send_tests(next(dealer), 1)
        if not self.pending:
            for node in nodes:
                node.shutdown()
