-- shop.sql: the demo's sample database, a small shop with realistic shapes:
-- customers, products, orders with line items, payments, an audit trail with
-- JSON payloads, a partitioned event log, and the odd awkward column (NULLs,
-- numeric, bytea, arrays). Deterministic (no random()): equal runs make equal
-- databases. :scale (default 1) multiplies the row counts; scale 1 is about
-- 200 MB on disk. Indexes and foreign keys are added after the data.
\set ON_ERROR_STOP on
\if :{?scale}
\else
\set scale 1
\endif
SET synchronous_commit = off;

CREATE SCHEMA shop;
CREATE SCHEMA audit;
CREATE TYPE shop.order_status AS ENUM ('new', 'paid', 'shipped', 'delivered', 'cancelled');

CREATE TABLE shop.customers (
    id          bigint NOT NULL,
    email       text NOT NULL,
    name        text NOT NULL,
    country     char(2) NOT NULL,
    created_at  timestamptz NOT NULL,
    marketing   boolean NOT NULL DEFAULT false,
    notes       text
);
CREATE TABLE shop.products (
    id          integer PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    title       text NOT NULL,
    price       numeric(10,2) NOT NULL CHECK (price >= 0),
    tags        text[] NOT NULL DEFAULT '{}',
    thumbnail   bytea
);
CREATE TABLE shop.orders (
    id          bigint NOT NULL,
    customer_id bigint NOT NULL,
    status      shop.order_status NOT NULL DEFAULT 'new',
    total       numeric(12,2) NOT NULL,
    created_at  timestamptz NOT NULL,
    shipped_at  timestamptz
);
CREATE TABLE shop.order_items (
    order_id    bigint NOT NULL,
    line        smallint NOT NULL,
    product_id  integer NOT NULL,
    quantity    integer NOT NULL,
    unit_price  numeric(10,2) NOT NULL
);
CREATE TABLE shop.payments (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    order_id    bigint NOT NULL,
    amount      numeric(12,2) NOT NULL,
    provider    text NOT NULL,
    paid_at     timestamptz NOT NULL
);
CREATE TABLE audit.events (
    at          timestamptz NOT NULL,
    actor       text,
    kind        text NOT NULL,
    payload     jsonb NOT NULL
) PARTITION BY RANGE (at);
CREATE TABLE audit.events_old PARTITION OF audit.events FOR VALUES FROM (MINVALUE) TO ('2026-01-01');
CREATE TABLE audit.events_2026 PARTITION OF audit.events FOR VALUES FROM ('2026-01-01') TO (MAXVALUE);
CREATE VIEW shop.daily_revenue AS
    SELECT date_trunc('day', created_at) AS day, sum(total) AS revenue, count(*) AS orders
    FROM shop.orders WHERE status <> 'cancelled' GROUP BY 1;

INSERT INTO shop.customers
SELECT i, 'customer' || i || '@example.com', 'Customer ' || i,
       (ARRAY['DE','FR','NL','US','GB','SE','PL','ES'])[1 + i % 8],
       timestamptz '2025-01-01' + (i * interval '37 seconds'),
       i % 3 = 0, CASE WHEN i % 11 = 0 THEN 'prefers evening delivery' END
FROM generate_series(1::bigint, 50000 * :scale) i;

INSERT INTO shop.products
SELECT i, 'SKU-' || lpad(i::text, 6, '0'), 'Product number ' || i,
       round((3 + (i * 7919 % 50000) / 100.0)::numeric, 2),
       ARRAY['tag' || i % 13, 'tag' || i % 7],
       CASE WHEN i % 5 = 0 THEN decode(md5(i::text), 'hex') END
FROM generate_series(1, 5000) i;

INSERT INTO shop.orders
SELECT i, 1 + (i * 7 % (50000 * :scale)),
       (ARRAY['new','paid','shipped','delivered','cancelled']::shop.order_status[])[1 + i % 5],
       round(((i * 104729 % 100000) / 100.0)::numeric, 2),
       now() - interval '60 days' + (i * (interval '60 days' / (400000 * :scale))),
       CASE WHEN i % 5 IN (2, 3) THEN now() - interval '59 days' + (i * (interval '60 days' / (400000 * :scale))) END
FROM generate_series(1::bigint, 400000 * :scale) i;

INSERT INTO shop.order_items
SELECT o, l, 1 + ((o * 31 + l * 17) % 5000), 1 + (o + l) % 4, round((((o * l) % 9000) / 100.0 + 1)::numeric, 2)
FROM generate_series(1::bigint, 400000 * :scale) o, generate_series(1, 2) l;

INSERT INTO shop.payments (order_id, amount, provider, paid_at)
SELECT id, total, (ARRAY['card','paypal','invoice'])[1 + id % 3], created_at + interval '2 minutes'
FROM shop.orders WHERE status <> 'new';

INSERT INTO audit.events
SELECT timestamptz '2025-06-01' + (i * interval '23 seconds'), 'customer' || (i % 5000),
       (ARRAY['login','view','cart','checkout'])[1 + i % 4],
       jsonb_build_object('session', md5(i::text), 'ip', '10.0.' || (i % 255) || '.' || (i % 7), 'n', i)
FROM generate_series(1::bigint, 350000 * :scale) i;

ALTER TABLE shop.customers ADD PRIMARY KEY (id), ADD UNIQUE (email);
ALTER TABLE shop.orders ADD PRIMARY KEY (id);
ALTER TABLE shop.order_items ADD PRIMARY KEY (order_id, line);
ALTER TABLE shop.payments ADD PRIMARY KEY (id);
ALTER TABLE shop.orders ADD FOREIGN KEY (customer_id) REFERENCES shop.customers(id);
ALTER TABLE shop.order_items ADD FOREIGN KEY (order_id) REFERENCES shop.orders(id),
                             ADD FOREIGN KEY (product_id) REFERENCES shop.products(id);
ALTER TABLE shop.payments ADD FOREIGN KEY (order_id) REFERENCES shop.orders(id);
CREATE INDEX orders_customer ON shop.orders (customer_id);
CREATE INDEX orders_created ON shop.orders (created_at);
ANALYZE;
