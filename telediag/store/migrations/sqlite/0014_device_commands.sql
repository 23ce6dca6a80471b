-- Server commands queued per device (telediag.commands): delivered over the device's own connection
-- by the ingest process holding it (claimed_by/claim_until is the row claim, so two processes never
-- send one command twice), or by SMS through the configured gateway; a command sent from a ticket
-- as its fix waits for proof (proof, proof_due, proof_evidence).
CREATE TABLE device_commands (
    id INTEGER PRIMARY KEY, imei TEXT NOT NULL, text TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'answered', 'expired', 'failed', 'cancelled')),
    created_by TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL,
    sent_at REAL, answered_at REAL, answer TEXT, channel TEXT CHECK (channel IN ('tcp', 'sms')),
    error TEXT, ticket_id INTEGER, claimed_by TEXT, claim_until REAL,
    sms_attempts INTEGER NOT NULL DEFAULT 0, sms_next_at REAL,
    fix_code TEXT, proof TEXT CHECK (proof IN ('waiting', 'proven', 'not_taken')), proof_due REAL,
    proof_evidence TEXT
);
CREATE INDEX device_commands_by_imei ON device_commands (imei, id);
CREATE INDEX device_commands_by_state ON device_commands (state, expires_at);
CREATE INDEX device_commands_by_ticket ON device_commands (ticket_id);
