"""The suite's xdist scheduling: whole modules (a package with a package fixture as one) go to the
workers in collection order, one each, the next to whichever is about to run out."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.xdist_scheduling import ModuleScheduling, shared_packages

COLLECTION = [
    "tests/hostile/test_5_crash.py::test_kill",                 # the longest first (tests/conftest.py)
    "tests/integration/test_e2e.py::test_fleet",
    "tests/hostile/test_1_absurd.py::test_value[a]",
    "tests/hostile/test_1_absurd.py::test_value[b::c]",
    "tests/browser/test_page.py::test_one",
    "tests/browser/test_page.py::test_two",
    "tests/telediag/test_unit.py::Cases::test_a",
    "tests/telediag/test_unit.py::Cases::test_b",
    "tests/telediag/test_unit.py::test_c",
]


class FakeWorker:
    """What the scheduler needs of xdist's WorkerController: it records what it was sent."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[str] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += [COLLECTION[index] for index in indices]

    def shutdown(self) -> None:
        self.shutting_down = True


def scheduling(tmp_path: Path, workers: int) -> tuple[ModuleScheduling, list[FakeWorker]]:
    (tmp_path / "tests" / "hostile").mkdir(parents=True)
    (tmp_path / "tests" / "hostile" / "conftest.py").write_text('@pytest.fixture(scope="package")\n')
    (tmp_path / "tests" / "browser").mkdir()
    (tmp_path / "tests" / "browser" / "conftest.py").write_text('@pytest.fixture(scope="module")\n')
    options = {"tx": [f"{workers}*popen"], "dist": "load"}
    config: Any = SimpleNamespace(rootpath=tmp_path, getvalue=options.get, getoption=options.get)
    sched = ModuleScheduling(config)
    nodes = [FakeWorker(f"gw{i}") for i in range(workers)]
    for node in nodes:
        sched.add_node(node)  # type: ignore[arg-type]
        sched.add_node_collection(node, COLLECTION)  # type: ignore[arg-type]
    return sched, nodes


def test_packages_with_a_package_fixture_are_found(tmp_path: Path) -> None:
    scheduling(tmp_path, 1)
    assert shared_packages(tmp_path) == ("tests/hostile/",)


def test_each_worker_starts_on_its_own_module_and_a_module_is_never_split(tmp_path: Path) -> None:
    sched, nodes = scheduling(tmp_path, 2)
    sched.schedule()
    hostile = [nodeid for nodeid in COLLECTION if nodeid.startswith("tests/hostile/")]
    assert nodes[0].sent == hostile  # the package with its fixture is one unit, in collection order
    # a unit of one test leaves the worker short of the two it needs queued: the next unit follows
    assert nodes[1].sent == ["tests/integration/test_e2e.py::test_fleet",
                             "tests/browser/test_page.py::test_one", "tests/browser/test_page.py::test_two"]

    for nodeid in hostile[:2]:
        sched.mark_test_complete(nodes[0], COLLECTION.index(nodeid))  # type: ignore[arg-type]
    assert nodes[0].sent[len(hostile):] == [nodeid for nodeid in COLLECTION if nodeid.startswith("tests/telediag/")]
    assert not sched.workqueue


def test_workers_beyond_the_number_of_units_get_nothing(tmp_path: Path) -> None:
    sched, nodes = scheduling(tmp_path, 6)
    sched.schedule()
    assert [bool(node.sent) for node in nodes] == [True] * 4 + [False] * 2
    assert all(node.shutting_down for node in nodes)  # nothing more to come for anyone
    assert sched.nodes == nodes[:4]
    assert sorted(nodeid for node in nodes for nodeid in node.sent) == sorted(COLLECTION)


def test_a_crashed_worker_s_unit_goes_to_its_replacement_once_that_has_collected(tmp_path: Path) -> None:
    sched, nodes = scheduling(tmp_path, 2)
    sched.schedule()
    replacement = FakeWorker("gw2")
    sched.add_node(replacement)  # type: ignore[arg-type]
    crashed_in = sched.remove_node(nodes[0])  # type: ignore[arg-type]
    assert crashed_in == COLLECTION[0] and replacement.sent == []  # still collecting: nothing yet
    sched.add_node_collection(replacement, COLLECTION)  # type: ignore[arg-type]
    sched.schedule()
    assert replacement.sent == [nodeid for nodeid in COLLECTION if nodeid.startswith("tests/telediag/")]
    assert list(sched.workqueue) == ["tests/hostile/"]  # the crashed unit, back in the queue
