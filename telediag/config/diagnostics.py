"""``[diagnostics]``: every threshold the checks compare against, with its documented default.

The defaults are chosen so that a healthy tracker reporting every few minutes never trips a check,
and each real fault does within one sweep of it showing in the data. No threshold may be negative.
"""

from __future__ import annotations

from dataclasses import dataclass

from telediag.config.schema import NonNegative, NonNegativeInt, Positive, PositiveInt, Section


@dataclass(frozen=True)
class Thresholds(Section):
    """Limits the checks compare against. Times in seconds unless the name says otherwise."""

    # when devices are checked
    sweep_interval_s: NonNegative = 60.0
    """How often the fleet-wide time checks run (silence, activation windows: what only time changes)."""
    batch_check_min_interval_s: NonNegative = 1.0
    """Debounce of event-driven checks: devices whose inputs changed (records, connectivity events,
    registry edits, connections) are checked together this long after the first of them."""
    check_batch_max: PositiveInt = 2000
    """Devices evaluated in one run of the diagnostics thread; more wait for the next run, so a large
    import never holds the thread (nor the findings it must publish) for long."""
    change_poll_interval_s: Positive = 1.0
    """How often the elected node reads the store's change watermarks (connectivity events, registry
    changes, connections and records of other nodes), so inputs of every node are seen within seconds."""
    installation_interval_s: NonNegative = 3600.0
    """How often a reporting device's installation checks (journeys, ignition: the costly 48 h history)
    run; the devices take turns, spread over the sweeps. 0 runs them for every device at every sweep."""
    renewal_interval_s: NonNegative = 0.0
    """An active finding still present is renewed (``last_seen``, ``count``, its latest evidence) at most
    this often; 0 renews it at every evaluation. Raising and clearing are never delayed."""
    history_s: NonNegative = 48 * 3600.0
    """How much stored history the installation and journey checks read."""
    recent_records: NonNegativeInt = 30
    """Latest records the GNSS, power, clock, delay and signal checks read."""

    # activation and silence
    activation_window_s: NonNegative = 24 * 3600.0
    """After activation, this long without data is normal (ACTIVATION_PENDING), then NO_DATA_AFTER_ACTIVATION."""
    default_report_interval_s: NonNegative = 300.0
    """Assumed when the registry has no report interval for a device."""
    silence_factor: NonNegative = 6.0
    silence_min_s: NonNegative = 1800.0
    """DEVICE_SILENT after max(silence_min_s, silence_factor x report interval) without a packet."""

    # connectivity
    connectivity_window_s: NonNegative = 24 * 3600.0
    """Network events older than this are not used."""
    apn_reject_causes: tuple[int, ...] = (27, 29, 33)
    """3GPP SM causes of a PDP reject that point at the APN (missing/unknown APN, auth failed, not subscribed)."""
    apn_min_rejects: NonNegativeInt = 2
    roaming_reject_causes: tuple[int, ...] = (11, 13, 14)
    """3GPP EMM causes of an attach reject abroad: PLMN not allowed, roaming not allowed in area, no GPRS in PLMN."""
    apn_evidence_max_age_s: NonNegative = 24 * 3600.0
    """A device's reported APN (Codec 12 ``getparam 2001``) is asked again when older than this."""

    # geography
    abroad_min_positions: NonNegativeInt = 3
    """Valid positions outside the home country before EU_COVERAGE_INACTIVE is raised."""

    # GNSS
    gnss_min_records: NonNegativeInt = 10
    no_fix_ratio: NonNegative = 0.8
    """GPS_NO_FIX: share of recent records with ignition on or motion that have no valid fix."""
    min_satellites: NonNegativeInt = 4
    max_hdop: NonNegative = 5.0
    poor_quality_ratio: NonNegative = 0.5
    """GPS_POOR_QUALITY: share of recent valid fixes with fewer satellites or higher HDOP than the limits."""
    max_plausible_speed_kmh: NonNegative = 300.0
    max_jumps: NonNegativeInt = 3
    """GPS_POOR_QUALITY also when this many consecutive fixes imply a speed above the plausible one."""

    # power
    power_lost_voltage_v: NonNegative = 1.0
    """EXTERNAL_POWER_LOST: latest external voltage at or below this."""
    battery_low_voltage_v: NonNegative = 3.55
    """BATTERY_LOW: internal battery at or below this while external power is lost or unknown."""

    # clock and delay
    clock_future_tolerance_s: NonNegative = 300.0
    clock_past_limit_s: NonNegative = 30 * 24 * 3600.0
    """CLOCK_INVALID: fix times further in the future, or older than this, than the server's clock."""
    delay_threshold_s: NonNegative = 600.0
    delay_ratio: NonNegative = 0.5
    """DATA_DELAYED: share of recent records stored more than ``delay_threshold_s`` after their fix."""

    # signal
    low_signal_pct: NonNegativeInt = 20
    low_signal_ratio: NonNegative = 0.8
    """LOW_GSM_SIGNAL: share of recent records at or below ``low_signal_pct``."""

    # protocol
    protocol_error_window_s: NonNegative = 3600.0
    protocol_error_min: NonNegativeInt = 5
    """PROTOCOL_ERRORS: this many undecodable frames within the window."""

    # installation (journeys and ignition)
    journey_min_distance_m: NonNegative = 200.0
    journey_min_duration_s: NonNegative = 180.0
    journey_stop_gap_s: NonNegative = 3600.0
    """Trip defaults: shorter or shorter-lived movements are not journeys; a longer gap in data ends one."""
    journey_min_parking_s: NonNegative = 300.0
    """A stop at least this long (ignition off or no motion) ends a journey."""
    parked_min_s: NonNegative = 2 * 3600.0
    engine_off_voltage_v: NonNegative = 13.2
    """IGNITION_ALWAYS_ON: ignition on through a park this long at or below engine-off voltage."""
    ignition_off_driving_min_m: NonNegative = 1000.0
    ignition_off_driving_ratio: NonNegative = 0.9
    """IGNITION_NOT_DETECTED: driven this far with ignition reported off on this share of moving records."""
    false_start_min: NonNegativeInt = 4
    false_start_window_s: NonNegative = 12 * 3600.0
    """JOURNEY_FALSE_STARTS: this many motion starts within the window that move less than a journey."""

    # clock jumps (judged on the latest records in the order they arrived)
    clock_jump_s: NonNegative = 86400.0
    """CLOCK_INVALID: a run of arrivals whose fix times lie this far before those of earlier arrivals, or
    this far behind their own arrival while earlier records were on time (a reset RTC, a GPS week rollover)."""
    clock_jump_min_records: NonNegativeInt = 3
    """Records such a run needs: one odd time is a glitch, a clock that stays wrong is a fault."""
    clock_catch_up_rate: NonNegative = 2.0
    """A run far behind its arrivals whose fix times advance at least this many times faster than they
    arrive is a buffered backlog catching up (DATA_DELAYED), not a wrong clock."""
