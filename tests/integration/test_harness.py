"""The integration harness itself: a server whose picked port another process took starts on new ones."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.integration.harness import PortTaken, ServerProcess, free_port


def test_a_port_taken_after_it_was_picked_is_picked_again(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    taken = server.ports["teltonika"]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        server.start()
        try:
            assert server.ports["teltonika"] != taken
            assert f"tcp:{server.ports['teltonika']}:" in server.config_path.read_text()
            assert "Address already in use" in server.log()  # the first start met the squatter
        finally:
            assert server.stop() == 0, server.log()


def test_ports_the_caller_chose_are_not_changed(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = ServerProcess(tmp_path / "data", ports={"teltonika": port, "gt06": free_port()})
        with pytest.raises(PortTaken):
            server.start()
