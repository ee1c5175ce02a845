CREATE INDEX posts_by_author ON posts (author_id);
