"""The pure parts of ingest workers: shared endpoints, SO_REUSEPORT groups, the restart budget, the
worker's plan and the parent's totals over the workers' reports (no worker processes here)."""

from __future__ import annotations

import socket

import pytest

from telediag.config import ConfigError, check_available, parse_config
from telediag.ingest.reports import WorkerTotals, make_report
from telediag.ingest.sockets import SharedAddress, UnsharableEndpoint, reuseport_sockets, shared_address
from telediag.ingest.worker import SocketPlan, WorkerPlan
from telediag.ingest.workers import RestartBudget
from telediag.pipeline import IngestStats


@pytest.mark.parametrize(("endpoint", "expected"), [
    ("tcp:5027", SharedAddress("teltonika", "tcp:5027", "tcp", "", 5027)),
    ("tcp:0:interface=127.0.0.1:backlog=4096",
     SharedAddress("teltonika", "tcp:0:interface=127.0.0.1:backlog=4096", "tcp", "127.0.0.1", 0, 4096)),
    (r"tcp:port=5027:interface=\:\:1",
     SharedAddress("teltonika", r"tcp:port=5027:interface=\:\:1", "tcp", "::1", 5027)),
    ("udp:5027:interface=0.0.0.0", SharedAddress("teltonika", "udp:5027:interface=0.0.0.0", "udp", "0.0.0.0", 5027)),
])
def test_tcp_and_udp_endpoints_are_shared(endpoint: str, expected: SharedAddress) -> None:
    assert shared_address("teltonika", endpoint) == expected


@pytest.mark.parametrize("endpoint", [
    "ssl:5027", "unix:/run/telediag.sock", "tcp6:5027", "tcp:", "tcp:port", "tcp:70000", "tcp:5027:backlog=0",
    "udp:5027:backlog=5", "tcp:5027:interface=127.0.0.1:interface=::1", "tcp:5027:5028",
])
def test_other_endpoints_cannot_be_shared(endpoint: str) -> None:
    with pytest.raises(UnsharableEndpoint, match="teltonika"):
        shared_address("teltonika", endpoint)


def test_several_workers_are_refused_with_an_endpoint_they_cannot_share() -> None:
    check_available(parse_config({"ingest": {"workers": 3}}))
    with pytest.raises(ConfigError, match=r"^\[ingest\] workers = 3: \[listen\] gt06: 'ssl:5023' cannot be shared"):
        check_available(parse_config({"ingest": {"workers": 3}, "listen": {"gt06": ["ssl:5023"]}}))
    check_available(parse_config({"ingest": {"workers": 1}, "listen": {"gt06": ["ssl:5023"]}}))


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_a_group_on_port_0_shares_the_port_the_kernel_chose(transport: str) -> None:
    address = shared_address("teltonika", f"{transport}:0:interface=127.0.0.1")
    group = reuseport_sockets(address, 3)
    try:
        ports = {sock.getsockname() for sock in group}
        assert len(ports) == 1 and next(iter(ports))[1] != 0
        assert all(not sock.getblocking() for sock in group)
    finally:
        for sock in group:
            sock.close()


def test_a_port_taken_outside_the_group_fails_and_leaves_nothing_open() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            reuseport_sockets(shared_address("gt06", f"tcp:{port}:interface=127.0.0.1"), 2)


def test_the_restart_budget_counts_restarts_within_its_window() -> None:
    budget = RestartBudget(limit=2, window_s=60.0)
    assert budget.allow(0.0) and budget.allow(10.0)
    assert not budget.allow(59.0)
    assert budget.allow(60.5)  # the restart at 0 left the window
    assert not budget.allow(61.0)


def test_the_plan_crosses_the_pipe_with_the_config_whole() -> None:
    config = parse_config({"ingest": {"workers": 2, "max_speed_kmh": 300}, "listen": {"gt06": ["tcp:0"]},
                           "sla": {"topics": {"consultation": 3}}, "store": {"data_dir": "/srv/telediag"}})
    plan = WorkerPlan(1, config, (SocketPlan("gt06", "tcp:0", 4, int(socket.AF_INET)),), mqtt=False,
                      log_level="warn", report_s=0.5)
    line = plan.encode()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert WorkerPlan.decode(line) == plan


class Committer:
    def __init__(self, stored: int, backlog: int) -> None:
        self.backlog, self._queued_records, self.queue_limit = backlog, 0, 100
        self.commits, self.commit_failures, self.records_stored = 1, 0, stored


class Factory:
    def __init__(self, protocol_name: str, open_: int, refused: int) -> None:
        self.protocol_name = protocol_name
        self.open_per_address = {"127.0.0.1": open_}
        self.refused = {"per_address_cap": refused} if refused else {}
        self.unmatched_answers = refused  # answers to no command: counted like refusals


def report(records: int, connected: int, stored: int, latency: float = 0.003) -> dict:
    stats = IngestStats()
    stats.records["teltonika"] += records
    stats.connections["teltonika"] += connected
    stats.ack_latency.observe("teltonika", latency)
    return make_report(stats, Committer(stored, backlog=connected), [Factory("teltonika", connected, 1)],
                       [("352093081234567", "teltonika")])


def test_totals_sum_the_workers_and_keep_the_counters_of_a_worker_that_ended() -> None:
    totals = WorkerTotals(["teltonika", "gt06"])
    committer = totals.committer
    totals.update(0, report(records=10, connected=3, stored=9))
    totals.update(1, report(records=5, connected=2, stored=5))
    assert totals.stats.records["teltonika"] == 15 and totals.stats.connections["teltonika"] == 5
    assert sum(totals.stats.ack_latency.counts["teltonika"]) == 2
    assert (committer.records_stored, committer.backlog, committer.queue_limit) == (14, 5, 200)
    assert totals.tcp[0].open_per_address["*"] == 5 and totals.tcp[0].refused["per_address_cap"] == 2
    assert totals.tcp[0].unmatched_answers == 2
    assert (totals.records_of(0), totals.records_of(1)) == (10, 5)
    totals.retire(0)  # worker 0 died: counters stay, gauges go
    assert totals.stats.records["teltonika"] == 15 and totals.stats.connections["teltonika"] == 2
    assert (committer.records_stored, committer.backlog) == (14, 2)
    assert totals.tcp[0].open_per_address["*"] == 2 and totals.tcp[0].refused["per_address_cap"] == 2
    assert totals.tcp[0].unmatched_answers == 2
    totals.update(0, report(records=1, connected=1, stored=1))  # its successor starts from zero
    assert totals.stats.records["teltonika"] == 16 and totals.records_of(0) == 1
    assert totals.committer is committer, "the metrics collector keeps the object it was given"
