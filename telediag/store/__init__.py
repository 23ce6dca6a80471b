"""Storage: the embedded SQLite store and the batch committer that feeds it."""
