-- How far each exporter (InfluxDB) has read the records table.
CREATE TABLE export_cursors (
    name TEXT COLLATE "C" PRIMARY KEY, last_id BIGINT NOT NULL, updated_at DOUBLE PRECISION
);
