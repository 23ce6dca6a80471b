"""How pytest-xdist hands the tests to its worker processes: whole test modules, longest first.

xdist's own ``load`` scheduling starts each worker on a consecutive block of the collection (a quarter
of its share), so the tests that ``tests/conftest.py`` puts first (the longest, then the slow ones) all
land on the first worker, which runs them one after another while the others finish early and wait.
Handing out single tests instead would spread them, but also a module's tests over several workers,
each then starting the module's own server, browser console or fleet (module-scoped fixtures) again.

So a unit of work is a test module, or a whole package whose ``conftest.py`` has a package-scoped
fixture (``tests/hostile``: one server poisoned once). Units go out in the order of their first test
in the collection, one to each worker, and the next to whichever worker is about to run out: the units
with the longest tests start together at the beginning, and the short ones fill in at the end.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from xdist.scheduler import LoadScopeScheduling

PACKAGE_SCOPE = re.compile(r"""scope\s*=\s*["']package["']""")


def shared_packages(rootdir: Path) -> tuple[str, ...]:
    """The test packages (as node-id prefixes, ``tests/hostile/``) whose ``conftest.py`` declares a
    package-scoped fixture."""
    found = []
    for conftest in sorted(rootdir.glob("tests/**/conftest.py")):
        if PACKAGE_SCOPE.search(conftest.read_text(encoding="utf-8")):
            found.append(conftest.parent.relative_to(rootdir).as_posix() + "/")
    return tuple(found)


class ModuleScheduling(LoadScopeScheduling):
    """xdist's ``loadscope`` with modules (or packages with a package fixture) as the units, handed out
    in collection order."""

    def __init__(self, config: Any, log: Any = None) -> None:
        super().__init__(config, log)
        self.shared = shared_packages(Path(str(config.rootpath)))

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return next((package for package in self.shared if module.startswith(package)), module)

    def _reschedule(self, node: Any) -> None:
        """As ``loadscope``, but a worker that replaces a crashed one gets work only once it has
        collected (xdist's own ``loadscope`` fails on it with a KeyError)."""
        if node in self.registered_collections:
            super()._reschedule(node)

    def schedule(self) -> None:
        """Queue the units in the order of their first test, then start every worker on one."""
        assert self.collection_is_completed
        if self.collection is not None:  # a worker added later
            for node in self.nodes:
                self._reschedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = list(next(iter(self.registered_collections.values())))
        if not self.collection:
            return
        units: OrderedDict[str, dict[str, bool]] = OrderedDict()
        for nodeid in self.collection:
            units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
        self.workqueue = units
        for node in self.nodes[len(units):]:  # more workers than units
            self.assigned_work.pop(node)
            node.shutdown()
        for node in self.nodes:
            self._assign_work_unit(node)
        for node in self.nodes:
            self._reschedule(node)
        if not self.workqueue:
            for node in self.nodes:
                node.shutdown()
