-- Rivet's e2e schema for MySQL/MariaDB (dev/mysql/init.sql: users, orders, events) filled the way
-- `seed --users 500` fills it: 500 users, about 10 orders and 50 events per user (~5k orders, ~25k events),
-- timestamps in 2023-2024. The same arithmetic as seed_postgres.sql, so both databases hold the same rows.
-- As a MySQL application has them: DECIMAL money, DATETIME business times, and a TIMESTAMP updated_at
-- maintained by the server (ON UPDATE CURRENT_TIMESTAMP), which the incremental exports use as their cursor.
-- Row numbers come from a helper table `e2e_numbers` (1..500), filled by a recursive CTE and dropped at the end.
-- Statements end with ";" at the end of a line (the test splits on that). The tables live in the test
-- session's database, where other modules make their own orders/events.

DROP TABLE IF EXISTS events, orders, users, e2e_numbers;

CREATE TABLE e2e_numbers (n INT PRIMARY KEY);

INSERT INTO e2e_numbers (n)
WITH RECURSIVE s (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 500)
SELECT n FROM s;

CREATE TABLE users (
    id INT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    email VARCHAR(200) NOT NULL,
    age INT,
    balance DECIMAL(12,2),
    is_active BOOLEAN DEFAULT true,
    bio TEXT,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE orders (
    id INT AUTO_INCREMENT PRIMARY KEY,
    user_id INT NOT NULL,
    product VARCHAR(200) NOT NULL,
    quantity INT NOT NULL,
    price DECIMAL(10,2) NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'pending',
    notes TEXT,
    ordered_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE events (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    user_id INT NOT NULL,
    event_type VARCHAR(50) NOT NULL,
    payload JSON,
    ip_address VARCHAR(45),
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    FOREIGN KEY (user_id) REFERENCES users(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE INDEX idx_orders_updated_at ON orders(updated_at);
CREATE INDEX idx_events_created_at ON events(created_at);
CREATE INDEX idx_events_user_id ON events(user_id);

INSERT INTO users (name, email, age, balance, is_active, bio, created_at, updated_at)
SELECT CONCAT(first_name, ' ', last_name),
       CONCAT(LOWER(first_name), '.', LOWER(last_name), g - 1, '@', domain),
       18 + (g * 7) % 48,
       ((g * 7919) % 20000000) / 100.0,
       g % 10 <> 0,
       CASE WHEN g % 10 < 7 THEN ELT(1 + g % 10, 'Software engineer', 'Product manager', 'Data scientist',
            'DevOps lead', 'CTO at startup', 'Junior developer', 'ML engineer', 'Full-stack dev', 'Backend engineer',
            'SRE, platform team') END,
       created_at,
       created_at + INTERVAL ((g * 40503) % (180 * 86400)) SECOND
FROM (
    SELECT n AS g,
           ELT(1 + n % 23, 'Alice', 'Bob', 'Carol', 'Dave', 'Eve', 'Frank', 'Grace', 'Hank', 'Ivy', 'Jack', 'Karen',
               'Leo', 'Mia', 'Noah', 'Olivia', 'Paul', 'Quinn', 'Rachel', 'Sam', 'Tara', 'Uma', 'Victor', 'Wendy')
               AS first_name,
           ELT(1 + (n * 3) % 17, 'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis',
               'Wilson', 'Moore', 'Taylor', 'Anderson', 'Thomas', 'Jackson', 'White', 'Harris', 'O''Brien')
               AS last_name,
           ELT(1 + n % 7, 'gmail.com', 'yahoo.com', 'outlook.com', 'proton.me', 'fastmail.com', 'icloud.com',
               'hey.com') AS domain,
           TIMESTAMP '2023-01-01 00:00:00' + INTERVAL ((n * 2654435761) % (731 * 86400)) SECOND AS created_at
    FROM e2e_numbers
    WHERE n <= 500
) AS u
ORDER BY g;

INSERT INTO orders (user_id, product, quantity, price, status, notes, ordered_at, updated_at)
SELECT o.user_id,
       ELT(1 + (o.user_id * 7 + o.k) % 12, 'MacBook Pro 16"', 'Dell XPS 15', 'ThinkPad X1 Carbon', 'Ergonomic Chair',
           'Standing Desk', 'USB-C Hub', 'Mechanical Keyboard', 'Monitor 27" 4K', 'Cable Management Kit, 3-pack',
           'Docking Station', 'NVMe SSD 2TB', 'Webcam HD'),
       1 + (o.user_id + o.k * 3) % 10,
       5 + ((o.user_id * 1009 + o.k * 7919) % 499500) / 100.0,
       ELT(1 + (o.user_id + o.k) % 4, 'pending', 'shipped', 'delivered', 'cancelled'),
       CASE WHEN (o.user_id + o.k) % 5 < 2 THEN 'Gift wrap, please; leave at "front desk"' END,
       o.ordered_at,
       o.ordered_at + INTERVAL ((o.user_id * 92821 + o.k * 6151) % (30 * 86400)) SECOND
FROM (
    SELECT u.id AS user_id, s.n AS k,
           TIMESTAMP '2023-01-01 00:00:00'
               + INTERVAL ((u.id * 2654435761 + s.n * 40503) % (731 * 86400)) SECOND AS ordered_at
    FROM users AS u
    JOIN e2e_numbers AS s ON s.n <= 5 + (u.id * 37) % 11
) AS o
ORDER BY o.user_id, o.k;

INSERT INTO events (user_id, event_type, payload, ip_address, created_at)
SELECT u.id,
       ELT(1 + (u.id * 3 + s.n) % 10, 'login', 'logout', 'page_view', 'purchase', 'signup', 'settings_change',
           'password_reset', 'search', 'export', 'api_call'),
       JSON_OBJECT('session', MD5(CONCAT(u.id, ':', s.n)), 'page', CONCAT('/page/', s.n % 17)),
       CASE (u.id + s.n) % 4
           WHEN 0 THEN CONCAT('10.', u.id % 256, '.', s.n % 256, '.', 1 + (u.id * s.n) % 254)
           WHEN 1 THEN CONCAT('172.', 16 + s.n % 16, '.', u.id % 256, '.', 1 + s.n % 254)
           ELSE CONCAT('192.168.', s.n % 256, '.', 1 + u.id % 254)
       END,
       TIMESTAMP '2023-01-01 00:00:00' + INTERVAL ((u.id * 104729 + s.n * 2654435761) % (731 * 86400)) SECOND
FROM users AS u
JOIN e2e_numbers AS s ON s.n <= 38 + (u.id * 53) % 25
ORDER BY u.id, s.n;

DROP TABLE e2e_numbers;

ANALYZE TABLE users, orders, events;
