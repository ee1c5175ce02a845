CREATE TABLE user_audit (
    user_id BIGINT NOT NULL,
    note    VARCHAR(255) NOT NULL
) ENGINE=InnoDB;
