-- API tokens, kept only as the SHA-256 of the token.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, role TEXT NOT NULL,
    account TEXT, label TEXT, created_at REAL NOT NULL, revoked_at REAL
);
