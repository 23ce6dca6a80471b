-- The web console (telediag.web): people with passwords (scrypt, self-describing) and their
-- server-side sessions, kept only as the SHA-256 of the session token, like api_tokens.
CREATE TABLE users (
    id INTEGER PRIMARY KEY, username TEXT NOT NULL COLLATE NOCASE UNIQUE, role TEXT NOT NULL,
    account TEXT REFERENCES accounts (name), password_hash TEXT NOT NULL,
    created_at REAL NOT NULL, disabled_at REAL
);
CREATE TABLE web_sessions (
    id INTEGER PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users (id), csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL, last_seen_at REAL NOT NULL
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);
