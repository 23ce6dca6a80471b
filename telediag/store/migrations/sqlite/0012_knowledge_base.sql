-- The knowledge base (telediag.kb): articles in several languages (one group_id links the languages of
-- one article), the terms they are found by (stemmed in Python, the same on both backends: title and
-- tags, body, and ticket texts staff answered with the article), the answers suggested on tickets
-- and the links staff made between a ticket and an article.
CREATE TABLE kb_articles (
    key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, group_id TEXT NOT NULL, language TEXT NOT NULL,
    title TEXT NOT NULL, body TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]',
    finding_codes TEXT NOT NULL DEFAULT '[]', published INTEGER NOT NULL DEFAULT 1,
    needs_review INTEGER NOT NULL DEFAULT 0, review_note TEXT,
    title_terms TEXT NOT NULL DEFAULT '', body_terms TEXT NOT NULL DEFAULT '',
    learned_terms TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL, updated_at REAL NOT NULL, updated_by TEXT NOT NULL,
    UNIQUE (group_id, language)
);
CREATE INDEX kb_articles_by_language ON kb_articles (language, published);
-- SQLite's full-text index over the stemmed terms (its rows are the articles' keys). PostgreSQL has a
-- GIN index over the same terms instead.
CREATE VIRTUAL TABLE kb_search USING fts5 (
    title_terms, body_terms, learned_terms, content = 'kb_articles', content_rowid = 'key',
    tokenize = 'unicode61 remove_diacritics 0'
);
-- How many articles hold each term (for the terms' weights; PostgreSQL counts them from its index).
CREATE VIRTUAL TABLE kb_search_terms USING fts5vocab (kb_search, 'row');
CREATE TRIGGER kb_articles_indexed AFTER INSERT ON kb_articles BEGIN
    INSERT INTO kb_search (rowid, title_terms, body_terms, learned_terms)
    VALUES (new.key, new.title_terms, new.body_terms, new.learned_terms);
END;
CREATE TRIGGER kb_articles_unindexed AFTER DELETE ON kb_articles BEGIN
    INSERT INTO kb_search (kb_search, rowid, title_terms, body_terms, learned_terms)
    VALUES ('delete', old.key, old.title_terms, old.body_terms, old.learned_terms);
END;
CREATE TRIGGER kb_articles_reindexed AFTER UPDATE OF title_terms, body_terms, learned_terms ON kb_articles BEGIN
    INSERT INTO kb_search (kb_search, rowid, title_terms, body_terms, learned_terms)
    VALUES ('delete', old.key, old.title_terms, old.body_terms, old.learned_terms);
    INSERT INTO kb_search (rowid, title_terms, body_terms, learned_terms)
    VALUES (new.key, new.title_terms, new.body_terms, new.learned_terms);
END;
CREATE TABLE kb_suggestions (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id), article_id TEXT NOT NULL REFERENCES kb_articles (id),
    score REAL NOT NULL, rank INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0, outcome TEXT,
    created_at REAL NOT NULL, decided_at REAL,
    PRIMARY KEY (ticket_id, article_id)
);
CREATE INDEX kb_suggestions_by_article ON kb_suggestions (article_id);
CREATE TABLE kb_links (
    ticket_id INTEGER NOT NULL REFERENCES tickets (id), article_id TEXT NOT NULL REFERENCES kb_articles (id),
    language TEXT, query_terms TEXT NOT NULL, linked_by TEXT NOT NULL, linked_at REAL NOT NULL,
    PRIMARY KEY (ticket_id, article_id)
);
CREATE INDEX kb_links_by_article ON kb_links (article_id);
