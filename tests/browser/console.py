"""The real ``telediag serve`` set up the way a browser test needs it, through its own command line and
listeners: trackers registered, console users made, SIM events imported, fixes sent; stopped at the end
(it must stop cleanly)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from protocols.teltonika.device import encode_imei
from tests.hostile.payloads import fix, teltonika_tcp
from tests.hostile.wire import send_stream
from tests.integration.harness import ServerProcess, run_cli

PASSWORD = "correct horse battery"
"""Every test user's password."""


def _data_dir(server: ServerProcess) -> list[str]:
    return ["--data-dir", str(server.data_dir)]


def import_devices(server: ServerProcess, csv: str) -> None:
    """Register the trackers of a fleet CSV text (``telediag devices import``)."""
    path = server.data_dir.parent / "fleet.csv"
    path.write_text(csv)
    imported = run_cli(["devices", "import", str(path), *_data_dir(server)])
    assert imported.returncode == 0, imported.stderr


def import_events(server: ServerProcess, events: Iterable[Mapping[str, Any]]) -> None:
    """Import connectivity events as an operator's platform reports them (``telediag connectivity import``)."""
    path = server.data_dir.parent / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    imported = run_cli(["connectivity", "import", str(path), *_data_dir(server)])
    assert imported.returncode == 0, imported.stderr


def add_users(server: ServerProcess, users: Mapping[str, tuple[str, str | None]], password: str = PASSWORD) -> None:
    """Console users by username: (role, account or None) each (``telediag users create``)."""
    for username, (role, account) in users.items():
        args = ["users", "create", "--role", role, username, *_data_dir(server)]
        made = run_cli(args + (["--account", account] if account else []), input=password + "\n")
        assert made.returncode == 0, made.stderr


def fixes(imei: str, until: float | None = None, **values: Any) -> list[bytes]:
    """Six Teltonika frames from ``imei``, one every 10 s in the two minutes before ``until`` (now by
    default), with the record ``values`` given (``tests.hostile.payloads.fix`` fills in the rest)."""
    end = time.time() if until is None else until
    return [teltonika_tcp(imei, fix(imei, "teltonika", fix_time=end - 120 + 10 * i, **values)) for i in range(6)]


def send_fixes(server: ServerProcess, imei: str, until: float | None = None, **values: Any) -> None:
    """Send :func:`fixes` to the service's Teltonika listener, on one connection that opens with the IMEI."""
    send_stream(server.ports["teltonika"], (encode_imei(imei), *fixes(imei, until, **values)))


@contextmanager
def serving(server: ServerProcess) -> Iterator[str]:
    """Start the service; the console's address until the block ends, then stop it (it must stop cleanly)."""
    server.start()
    try:
        yield f"http://127.0.0.1:{server.api_port}"
    finally:
        assert server.stop() == 0, server.log()
