-- Customer accounts and SIM profiles, and the registry columns that tie a device to them.
CREATE TABLE accounts (
    name TEXT PRIMARY KEY, contact_name TEXT, email TEXT, phone TEXT,
    vip INTEGER NOT NULL DEFAULT 0, home_country TEXT,
    coverage TEXT CHECK (coverage IN ('domestic', 'eu', 'world'))
);
CREATE TABLE sim_profiles (
    iccid TEXT PRIMARY KEY, msisdn TEXT, apn TEXT, roaming_allowed INTEGER
);
ALTER TABLE devices ADD COLUMN account TEXT REFERENCES accounts (name);
ALTER TABLE devices ADD COLUMN vehicle_plate TEXT;
ALTER TABLE devices ADD COLUMN iccid TEXT REFERENCES sim_profiles (iccid);
ALTER TABLE devices ADD COLUMN activated_at REAL;
ALTER TABLE devices ADD COLUMN report_interval_s REAL;
ALTER TABLE devices ADD COLUMN install_profile TEXT;
CREATE INDEX devices_by_account ON devices (account);
