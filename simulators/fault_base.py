"""The hooks a fault may change in a simulated tracker, with a healthy device's answers.

:mod:`simulators.device_model` calls them at every report; :mod:`simulators.faults` holds the
faults themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from protocols.record import Record

if TYPE_CHECKING:
    from simulators.device_model import DeviceModel

HOUR, DAY = 3600.0, 86400.0
RTC_EPOCH = 946684800.0
"""2000-01-01T00:00:00Z: where a tracker's real-time clock restarts after losing its backup power."""


class Fault:
    """A healthy device: every hook leaves it alone. Subclasses override what their fault changes."""

    name: ClassVar[str] = ""
    finding: ClassVar[str | None] = None
    coverage: ClassVar[str] = "eu"
    sim_roaming: ClassVar[bool] = True
    activated_ago_s: ClassVar[float | None] = None
    """None: activated 10-40 days before the run, like any installed tracker."""
    unpowered: ClassVar[bool] = False
    """While active: no records, no network (not installed, or dead)."""
    keeps_offline_records: ClassVar[bool] = True
    """Records made without a data session are kept and sent later (else lost)."""
    goes_abroad: ClassVar[bool] = False
    garbage_every: ClassVar[int] = 0
    """Every n-th report is followed by an undecodable frame (0: never)."""
    protocols: ClassVar[tuple[str, ...]] = ("teltonika", "gt06")
    """Protocols whose records can carry the signature (GT06 location frames have no voltages,
    motion flag or signal level)."""
    plate: ClassVar[str | None] = None

    def __init__(self) -> None:
        self.started: float | None = None

    def onset_s(self, duration_s: float, interval_s: float) -> float:
        """Seconds after the start of the run at which the fault begins."""
        return 0.0

    def prepare(self, model: DeviceModel) -> None:
        """Before the first report: set up route and habits."""

    def apply(self, record: Record, model: DeviceModel) -> Record:
        """The record as the faulty device reports it."""
        return record

    def lag_s(self, now: float) -> float:
        """How long before ``now`` the records sent at ``now`` were made."""
        return 0.0

    def device_apn(self, sim_apn: str) -> str:
        """The APN the device is configured with."""
        return sim_apn

    def end(self, model: DeviceModel, now: float) -> None:
        """The fault is over (repaired): undo what :meth:`prepare` changed."""
