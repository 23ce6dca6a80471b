-- Ingest: decoded records (deduplicated on device, fix time and digest), the device registry,
-- each device's last known state and the protocol errors peers caused.
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    imei TEXT NOT NULL, protocol TEXT NOT NULL, fix_time REAL, server_time REAL NOT NULL,
    digest BLOB NOT NULL,
    valid INTEGER, lat REAL, lon REAL, altitude_m REAL, speed_kmh REAL, course_deg REAL,
    satellites INTEGER, hdop REAL, ignition INTEGER, motion INTEGER, ext_voltage_v REAL,
    battery_voltage_v REAL, gsm_signal_pct INTEGER, operator INTEGER, roaming INTEGER,
    odometer_m REAL, event TEXT, attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX records_natural_key ON records (imei, fix_time, digest);
CREATE TABLE devices (
    imei TEXT PRIMARY KEY, protocol TEXT, registered_at REAL NOT NULL, source TEXT NOT NULL
);
CREATE TABLE device_state (
    imei TEXT PRIMARY KEY, protocol TEXT, connected INTEGER NOT NULL DEFAULT 0, remote TEXT,
    first_seen REAL, last_seen REAL, last_connected_at REAL, last_disconnected_at REAL,
    last_fix_time REAL, last_lat REAL, last_lon REAL,
    protocol_errors INTEGER NOT NULL DEFAULT 0, last_error TEXT, last_error_at REAL
);
CREATE TABLE ingest_errors (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, imei TEXT, protocol TEXT NOT NULL, remote TEXT,
    message TEXT NOT NULL, excerpt TEXT
);
