-- Rivet's e2e schema (dev/postgres/init.sql: users, orders, events) filled the way `seed --users 500` fills it:
-- 500 users, about 10 orders and 50 events per user (~5k orders, ~25k events), timestamps in 2023-2024.
-- Deterministic: every value is arithmetic on the row number (no random()), so each run seeds the same rows.
-- The per-user counts spread around the Poisson means with the same standard deviation (5..15 orders,
-- 38..62 events). Statements end with ";" at the end of a line (the test splits on that).
-- The tables live in the test session's database, where other modules make their own orders/events.

DROP TABLE IF EXISTS events, orders, users CASCADE;

CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    email VARCHAR(200) NOT NULL,
    age INT,
    balance NUMERIC(12,2),
    is_active BOOLEAN DEFAULT true,
    bio TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT now(),
    updated_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id SERIAL PRIMARY KEY,
    user_id INT NOT NULL REFERENCES users(id),
    product VARCHAR(200) NOT NULL,
    quantity INT NOT NULL,
    price NUMERIC(10,2) NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'pending',
    notes TEXT,
    ordered_at TIMESTAMP NOT NULL DEFAULT now(),
    updated_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    user_id INT NOT NULL REFERENCES users(id),
    event_type VARCHAR(50) NOT NULL,
    payload JSONB,
    ip_address VARCHAR(45),
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE INDEX idx_orders_updated_at ON orders(updated_at);
CREATE INDEX idx_events_created_at ON events(created_at);
CREATE INDEX idx_events_user_id ON events(user_id);

INSERT INTO users (name, email, age, balance, is_active, bio, created_at, updated_at)
SELECT first_name || ' ' || last_name,
       lower(first_name) || '.' || lower(last_name) || (g - 1) || '@' || domain,
       18 + (g * 7) % 48,
       ((g::bigint * 7919) % 20000000) / 100.0,
       g % 10 <> 0,
       CASE WHEN g % 10 < 7 THEN (ARRAY['Software engineer', 'Product manager', 'Data scientist', 'DevOps lead',
            'CTO at startup', 'Junior developer', 'ML engineer', 'Full-stack dev', 'Backend engineer',
            'SRE, platform team'])[1 + g % 10] END,
       created_at,
       created_at + ((g::bigint * 40503) % (180 * 86400)) * interval '1 second'
FROM (
    SELECT g,
           (ARRAY['Alice', 'Bob', 'Carol', 'Dave', 'Eve', 'Frank', 'Grace', 'Hank', 'Ivy', 'Jack', 'Karen', 'Leo',
                  'Mia', 'Noah', 'Olivia', 'Paul', 'Quinn', 'Rachel', 'Sam', 'Tara', 'Uma', 'Victor', 'Wendy'])
               [1 + g % 23] AS first_name,
           (ARRAY['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Wilson', 'Moore',
                  'Taylor', 'Anderson', 'Thomas', 'Jackson', 'White', 'Harris', 'O''Brien'])[1 + (g * 3) % 17]
               AS last_name,
           (ARRAY['gmail.com', 'yahoo.com', 'outlook.com', 'proton.me', 'fastmail.com', 'icloud.com', 'hey.com'])
               [1 + g % 7] AS domain,
           timestamp '2023-01-01' + ((g::bigint * 2654435761) % (731 * 86400)) * interval '1 second' AS created_at
    FROM generate_series(1, 500) AS g
) AS u
ORDER BY g;

INSERT INTO orders (user_id, product, quantity, price, status, notes, ordered_at, updated_at)
SELECT u.id,
       (ARRAY['MacBook Pro 16"', 'Dell XPS 15', 'ThinkPad X1 Carbon', 'Ergonomic Chair', 'Standing Desk',
              'USB-C Hub', 'Mechanical Keyboard', 'Monitor 27" 4K', 'Cable Management Kit, 3-pack', 'Docking Station',
              'NVMe SSD 2TB', 'Webcam HD'])[1 + (u.id * 7 + k) % 12],
       1 + (u.id + k * 3) % 10,
       5 + ((u.id::bigint * 1009 + k * 7919) % 499500) / 100.0,
       (ARRAY['pending', 'shipped', 'delivered', 'cancelled'])[1 + (u.id + k) % 4],
       CASE WHEN (u.id + k) % 5 < 2 THEN 'Gift wrap, please; leave at "front desk"' END,
       o.ordered_at,
       o.ordered_at + ((u.id::bigint * 92821 + k * 6151) % (30 * 86400)) * interval '1 second'
FROM users AS u
CROSS JOIN LATERAL generate_series(1, 5 + (u.id * 37) % 11) AS k
CROSS JOIN LATERAL (SELECT timestamp '2023-01-01'
                           + ((u.id::bigint * 2654435761 + k * 40503) % (731 * 86400)) * interval '1 second'
                           AS ordered_at) AS o
ORDER BY u.id, k;

INSERT INTO events (user_id, event_type, payload, ip_address, created_at)
SELECT u.id,
       (ARRAY['login', 'logout', 'page_view', 'purchase', 'signup', 'settings_change', 'password_reset', 'search',
              'export', 'api_call'])[1 + (u.id * 3 + k) % 10],
       jsonb_build_object('session', md5(u.id || ':' || k), 'page', '/page/' || (k % 17)),
       CASE (u.id + k) % 4
           WHEN 0 THEN '10.' || (u.id % 256) || '.' || (k % 256) || '.' || (1 + (u.id * k) % 254)
           WHEN 1 THEN '172.' || (16 + k % 16) || '.' || (u.id % 256) || '.' || (1 + k % 254)
           ELSE '192.168.' || (k % 256) || '.' || (1 + u.id % 254)
       END,
       timestamp '2023-01-01' + ((u.id::bigint * 104729 + k * 2654435761) % (731 * 86400)) * interval '1 second'
FROM users AS u
CROSS JOIN LATERAL generate_series(1, 38 + (u.id * 53) % 25) AS k
ORDER BY u.id, k;

ANALYZE users;
ANALYZE orders;
ANALYZE events;
