DROP INDEX posts_by_author;
