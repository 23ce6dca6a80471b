-- How far each exporter (InfluxDB) has read the records table.
CREATE TABLE export_cursors (
    name TEXT PRIMARY KEY, last_id INTEGER NOT NULL, updated_at REAL
);
