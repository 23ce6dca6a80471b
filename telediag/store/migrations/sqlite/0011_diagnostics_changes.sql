-- Diagnostics follow every input within seconds, on whichever node it arrived:
-- records by arrival (a device's latest records, whatever its clock says), connections by time, and
-- a log of registry changes that triggers fill, so no writer of the registry has to remember it.
-- The elected node reads the log past its watermark and trims what it has read.
CREATE INDEX records_by_arrival ON records (imei, server_time, id);
CREATE INDEX device_state_by_connected ON device_state (last_connected_at);
CREATE INDEX device_state_by_disconnected ON device_state (last_disconnected_at);
CREATE TABLE registry_changes (
    id INTEGER PRIMARY KEY, imei TEXT, iccid TEXT, account TEXT
);
CREATE TRIGGER registry_device_added AFTER INSERT ON devices
BEGIN INSERT INTO registry_changes (imei) VALUES (NEW.imei); END;
CREATE TRIGGER registry_device_changed AFTER UPDATE ON devices
BEGIN INSERT INTO registry_changes (imei) VALUES (NEW.imei); END;
CREATE TRIGGER registry_device_removed AFTER DELETE ON devices
BEGIN INSERT INTO registry_changes (imei) VALUES (OLD.imei); END;
CREATE TRIGGER registry_sim_added AFTER INSERT ON sim_profiles
BEGIN INSERT INTO registry_changes (iccid) VALUES (NEW.iccid); END;
CREATE TRIGGER registry_sim_changed AFTER UPDATE ON sim_profiles
BEGIN INSERT INTO registry_changes (iccid) VALUES (NEW.iccid); END;
CREATE TRIGGER registry_account_added AFTER INSERT ON accounts
BEGIN INSERT INTO registry_changes (account) VALUES (NEW.name); END;
CREATE TRIGGER registry_account_changed AFTER UPDATE ON accounts
BEGIN INSERT INTO registry_changes (account) VALUES (NEW.name); END;
