CREATE TABLE posts (
    id        BIGINT PRIMARY KEY,
    author_id BIGINT NOT NULL REFERENCES users (id),
    title     TEXT NOT NULL,
    body      TEXT NOT NULL DEFAULT ''
);
