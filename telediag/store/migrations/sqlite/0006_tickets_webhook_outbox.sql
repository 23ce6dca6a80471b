-- Tickets with their devices, findings and timeline, and the outbox of webhooks to deliver.
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY, title TEXT NOT NULL, origin TEXT NOT NULL, category TEXT NOT NULL,
    topic TEXT NOT NULL, team TEXT NOT NULL, priority TEXT NOT NULL, state TEXT NOT NULL,
    account TEXT, problem TEXT, parent_id INTEGER REFERENCES tickets (id), description TEXT,
    language TEXT, created_by TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    first_response_due REAL, resolution_due REAL, first_response_at REAL, resolved_at REAL,
    closed_at REAL, paused_since REAL, paused_business_s REAL NOT NULL DEFAULT 0,
    breached TEXT NOT NULL DEFAULT '[]', rating TEXT, rating_reason TEXT,
    quality_flag INTEGER NOT NULL DEFAULT 0, correlation_key TEXT
);
CREATE INDEX tickets_by_problem ON tickets (problem, state);
CREATE INDEX tickets_by_parent ON tickets (parent_id);
CREATE INDEX tickets_by_account ON tickets (account, state);
CREATE TABLE ticket_devices (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id), imei TEXT NOT NULL,
    PRIMARY KEY (ticket_id, imei)
);
CREATE INDEX ticket_devices_by_imei ON ticket_devices (imei);
CREATE TABLE ticket_findings (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id), imei TEXT NOT NULL, code TEXT NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL, count INTEGER NOT NULL,
    evidence TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (ticket_id, imei, code)
);
CREATE TABLE ticket_timeline (
    id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets (id), at REAL NOT NULL,
    kind TEXT NOT NULL, by TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX ticket_timeline_by_ticket ON ticket_timeline (ticket_id, id);
CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY, event TEXT NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, delivered_at REAL,
    last_error TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_at, next_attempt_at);
