-- SIM and network events as a mobile operator's connectivity platform reports them (attach,
-- PDP context, location update), deduplicated on their digest.
CREATE TABLE connectivity_events (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, iccid TEXT, imei TEXT, type TEXT NOT NULL,
    cause INTEGER, apn TEXT, mcc INTEGER, mnc INTEGER, rat TEXT, received_at REAL NOT NULL,
    digest BLOB NOT NULL UNIQUE
);
CREATE INDEX connectivity_by_iccid ON connectivity_events (iccid, at);
CREATE INDEX connectivity_by_imei ON connectivity_events (imei, at);
