-- E-mail (telediag.mail): the people of an account who may write to support, the per-account
-- notification rules, the work those rules have in hand, and the messages waiting to be sent.
-- Addresses are stored lower-cased, so one address is one contact whatever case a mail uses.
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts (name), name TEXT NOT NULL,
    email TEXT NOT NULL, language TEXT NOT NULL DEFAULT 'en', permissions TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX contacts_one_per_account ON contacts (account, email);
CREATE INDEX contacts_by_email ON contacts (email);
CREATE TABLE notification_rules (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts (name), codes TEXT NOT NULL DEFAULT '[]',
    events TEXT NOT NULL DEFAULT '[]', min_duration_s REAL NOT NULL DEFAULT 0, quiet_hours TEXT,
    timezone TEXT, language TEXT, recipients TEXT NOT NULL DEFAULT '[]', created_by TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX notification_rules_by_account ON notification_rules (account);
-- Ticket events queued in the ticket change's own transaction, read by the rules after the commit.
CREATE TABLE notification_events (
    id INTEGER PRIMARY KEY, event TEXT NOT NULL, ticket_id INTEGER NOT NULL, account TEXT,
    payload TEXT NOT NULL, at REAL NOT NULL
);
-- Matched by a rule, waiting for the end of quiet hours or of the digest window.
CREATE TABLE notification_pending (
    id INTEGER PRIMARY KEY, rule_id INTEGER NOT NULL, group_key TEXT NOT NULL, kind TEXT NOT NULL,
    finding_id INTEGER, item TEXT NOT NULL, at REAL NOT NULL
);
CREATE INDEX notification_pending_by_rule ON notification_pending (rule_id, group_key);
-- A finding is told once per rule however long it lasts.
CREATE TABLE notification_told (
    rule_id INTEGER NOT NULL, finding_id INTEGER NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (rule_id, finding_id)
);
-- When each rule last wrote about each account or outage (the digest window runs from there).
CREATE TABLE notification_groups (
    rule_id INTEGER NOT NULL, group_key TEXT NOT NULL, last_sent_at REAL NOT NULL,
    PRIMARY KEY (rule_id, group_key)
);
-- Whole messages (RFC 5322 text, rendered once so every attempt sends the same bytes).
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY, purpose TEXT NOT NULL, recipients TEXT NOT NULL, message TEXT NOT NULL,
    created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
    sent_at REAL, last_error TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);
