-- The example shop of examples/schema.sql in MariaDB 10.11 syntax: what the golden MariaDB plans
-- (plans-mariadb/) are compiled against, and what tests/mariadb_plans.rs loads into a real server.
-- It has what the MySQL planner must handle: a prefix index, a unique index on a nullable column,
-- a foreign key, a NOT NULL column without default, a CHECK, charsets/collations, a comment,
-- ON UPDATE, an app trigger (planner's run after it) and a view.

CREATE TABLE users (
    id          BIGINT NOT NULL AUTO_INCREMENT,
    email       VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    name        VARCHAR(200) NOT NULL DEFAULT '' COMMENT 'display name',
    nickname    VARCHAR(50) NULL,
    verified_at DATETIME NULL,
    legacy_flag TINYINT(1) NOT NULL,
    created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at  DATETIME NULL ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY users_email_key (email),
    KEY users_name_idx (name(20))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE orders (
    id          BIGINT NOT NULL AUTO_INCREMENT,
    user_id     BIGINT NOT NULL,
    status      VARCHAR(20) NOT NULL DEFAULT 'pending',
    total_cents BIGINT NOT NULL,
    currency    CHAR(3) NULL,
    created_at  DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    KEY orders_user_idx (user_id),
    CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT orders_total_check CHECK (total_cents >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Order lines: an INT that outgrows its range (change_type to BIGINT) and a unique key over a
-- NOT NULL string without default.
CREATE TABLE order_lines (
    id       BIGINT NOT NULL AUTO_INCREMENT,
    order_id BIGINT NOT NULL,
    quantity INT NOT NULL,
    sku      VARCHAR(64) NOT NULL,
    PRIMARY KEY (id),
    KEY order_lines_quantity_idx (quantity),
    UNIQUE KEY order_lines_order_sku_key (order_id, sku),
    CONSTRAINT order_lines_order_fk FOREIGN KEY (order_id) REFERENCES orders (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The app's own trigger: it reads neither name nor email, so renames may proceed.
CREATE TRIGGER orders_status_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.status = LOWER(NEW.status);

CREATE VIEW recent_orders AS
    SELECT id, user_id, total_cents FROM orders WHERE created_at > '2025-01-01';
