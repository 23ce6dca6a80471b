-- Plausibility (telediag.plausibility): records whose time is unknown are read by device and server
-- time. (The SQLite script also moves impossible values of rows stored before plausibility existed
-- into attributes; every PostgreSQL store was written with plausibility in place, so it has none.)
CREATE INDEX records_time_unknown ON records (imei, server_time) WHERE fix_time IS NULL;
