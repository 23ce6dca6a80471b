-- Diagnostics: findings (at most one active per device and code) and the evidence they rest on.
CREATE TABLE findings (
    id INTEGER PRIMARY KEY, imei TEXT NOT NULL, code TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
    count INTEGER NOT NULL DEFAULT 1, evidence TEXT NOT NULL DEFAULT '{}', cleared_at REAL
);
CREATE UNIQUE INDEX findings_one_active ON findings (imei, code) WHERE active = 1;
CREATE INDEX findings_by_code ON findings (code, active);
CREATE TABLE device_evidence (
    imei TEXT NOT NULL, name TEXT NOT NULL, value TEXT, at REAL NOT NULL,
    PRIMARY KEY (imei, name)
);
