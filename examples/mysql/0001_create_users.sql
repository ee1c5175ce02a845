-- MySQL commits each schema change on the spot: one per migration, so a
-- failure leaves nothing half-done to untangle.
CREATE TABLE users (
    id         BIGINT PRIMARY KEY,
    email      VARCHAR(255) NOT NULL UNIQUE,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB;
