-- Customer accounts and SIM profiles, and the registry columns that tie a device to them.
CREATE TABLE accounts (
    name TEXT COLLATE "C" PRIMARY KEY, contact_name TEXT COLLATE "C", email TEXT COLLATE "C",
    phone TEXT COLLATE "C",
    vip INTEGER NOT NULL DEFAULT 0, home_country TEXT COLLATE "C",
    coverage TEXT COLLATE "C" CHECK (coverage IN ('domestic', 'eu', 'world'))
);
CREATE TABLE sim_profiles (
    iccid TEXT COLLATE "C" PRIMARY KEY, msisdn TEXT COLLATE "C", apn TEXT COLLATE "C", roaming_allowed INTEGER
);
ALTER TABLE devices ADD COLUMN account TEXT COLLATE "C" REFERENCES accounts (name);
ALTER TABLE devices ADD COLUMN vehicle_plate TEXT COLLATE "C";
ALTER TABLE devices ADD COLUMN iccid TEXT COLLATE "C" REFERENCES sim_profiles (iccid);
ALTER TABLE devices ADD COLUMN activated_at DOUBLE PRECISION;
ALTER TABLE devices ADD COLUMN report_interval_s DOUBLE PRECISION;
ALTER TABLE devices ADD COLUMN install_profile TEXT COLLATE "C";
CREATE INDEX devices_by_account ON devices (account);
