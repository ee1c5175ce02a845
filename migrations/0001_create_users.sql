-- Accounts. Portable SQL: runs unchanged on SQLite and PostgreSQL.
CREATE TABLE users (
    id         BIGINT PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
