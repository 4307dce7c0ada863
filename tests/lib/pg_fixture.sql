-- tests/lib/pg_fixture.sql - deterministic schema + data with the awkward
-- cases that content checksums and schema fingerprints must get right.
-- Load with: pg_load_fixture NAME DB   (psql -X -v ON_ERROR_STOP=1 -f ...)
--
-- Contents (every value is a pure function of a row number: no random(),
-- no now() in the data, so two loads produce byte-identical table contents
-- and identical sequence positions):
--   schemas   public, app, audit
--   types     enum public.order_status, domains public.email and
--             app.positive_amount (numeric with CHECK)
--   public.users        500 rows, PK, identity, UNIQUE, domain, text[], jsonb,
--                       NULLs, non-ASCII / quote / backslash / newline text
--   public.orders       2000 rows, bigserial PK, FK -> users, enum, CHECK,
--                       DEFAULTs, created_at timestamptz (freshness checks),
--                       BEFORE trigger filling total
--                       min(created_at) = 2024-01-01 00:17:00+00
--                       max(created_at) = 2024-01-24 14:40:00+00
--   app.order_items     3000 rows, composite PK (order_id, line_no), FK,
--                       generated (STORED) column
--   public.events_nopk  300 rows, NO primary key, exact duplicate rows,
--                       uuid, inet, interval, bytea, mostly-NULL columns
--   app.measurements    400 rows, RANGE partitioned by month of measured_on
--                       (3 partitions + DEFAULT, rows in each), float8 NaN,
--                       +/-Infinity, -0, numeric NaN
--   app.documents       6 rows, 3 with ~200 kB text and 2 with 100 kB bytea
--                       (out-of-line TOAST; blob is STORAGE EXTERNAL)
--   app."MixedCase"     50 rows, quoted identifiers, reserved-word column
--   public."naïve_tbl"  30 rows, non-ASCII table and column names
--   audit.user_log      500 rows written by an AFTER INSERT trigger on users
--   sequences           app.invoice_no_seq (standalone, advanced to 1070)
--   views               public.active_users_v, app.order_totals_v,
--                       materialized audit.daily_order_counts_mv
--   function            public.order_total(bigint)
--   indexes             unique, expression, partial, on the partitioned table
--
-- What a restore must bring back beyond rows (SPEC.md, 'The canonical schema
-- text'), modelled on public sample databases (a chinook-like music store,
-- a multi-tenant SaaS schema), with data generated here:
--   music.*             artist (serial, ICU collation music.sv), album
--                       (identity by default), genre, media_type, track
--                       (identity ALWAYS, domain, enum, tsvector generated
--                       column over the text search configuration
--                       music.track_search, GIN index), playlist, and
--                       playlist_track with the key (playlist_id, track_id):
--                       18 playlists, two of 3290 tracks (a low-cardinality
--                       first key column), 7,733 rows
--   triggers on music.track in every enabled state: track_check_length
--                       (origin, the default), track_replica_sync (ENABLE
--                       REPLICA), track_always_guard (ENABLE ALWAYS),
--                       track_audit (DISABLED)
--   music.genre_stats_mv populated; music.playlist_sizes_mv WITH NO DATA
--   music.track_album_genre_stx  extended statistics
--   saas.tenants        5 tenants (identity ALWAYS)
--   saas.accounts       2,000 rows, key (tenant_id, id), id from the shared
--                       sequence saas.account_id_seq (a nextval default),
--                       row-level security ENABLE + FORCE with a permissive
--                       and a restrictive policy and one TO fixture_reader
--   saas.audit_events   append-only through rules (DO INSTEAD NOTHING on
--                       DELETE; on UPDATE, disabled)
--   event trigger       fixture_ddl_watch (ddl_command_end, a no-op)
--   comments            on schemas, tables, columns, views, materialized
--                       views, functions, triggers, types, domains, indexes,
--                       constraints, sequences, policies, rules, statistics,
--                       a collation and the event trigger
--   role                fixture_reader (NOLOGIN, made when missing: roles
--                       belong to the cluster)
-- Every sequence is at or past the largest value of the columns it feeds.
-- Row total: about 17,000 (plus the TOASTed documents).  Loads in about 1 s.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET extra_float_digits = 1;

BEGIN;

CREATE SCHEMA app;
CREATE SCHEMA audit;
COMMENT ON SCHEMA app IS 'application tables (drplay test fixture)';

CREATE TYPE public.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled', 'refunded');
CREATE DOMAIN public.email AS text CHECK (VALUE ~ '^[^@[:space:]]+@[^@[:space:]]+$');
CREATE DOMAIN app.positive_amount AS numeric(12,2) CHECK (VALUE >= 0);

-- ------------------------------------------------------------------ users ---
CREATE TABLE public.users (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    email        public.email NOT NULL UNIQUE,
    display_name text,
    tags         text[],
    profile      jsonb,
    balance      numeric(14,4) NOT NULL DEFAULT 0,
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.users IS 'users: NULLs, arrays, jsonb, awkward text';
CREATE INDEX users_lower_email_idx ON public.users (lower(email::text));

CREATE TABLE audit.user_log (
    id      bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    action  text NOT NULL,
    at      timestamptz NOT NULL
);

CREATE FUNCTION audit.log_user_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- deterministic: the audit time is the row's own created_at, not now()
    INSERT INTO audit.user_log (user_id, action, at) VALUES (NEW.id, 'insert', NEW.created_at);
    RETURN NEW;
END
$$;
CREATE TRIGGER users_audit AFTER INSERT ON public.users
    FOR EACH ROW EXECUTE FUNCTION audit.log_user_insert();

INSERT INTO public.users (id, email, display_name, tags, profile, balance, is_active, created_at)
SELECT i,
       'user' || i || '@example.test',
       CASE WHEN i % 7 = 0 THEN NULL ELSE 'User ' || i END,
       CASE WHEN i % 11 = 0 THEN NULL
            WHEN i % 11 = 1 THEN '{}'::text[]
            ELSE ARRAY['t' || (i % 5), 'grp' || (i % 3)] END,
       CASE WHEN i % 13 = 0 THEN NULL
            ELSE jsonb_build_object('age', 18 + i % 60,
                                    'prefs', jsonb_build_object('lang', (ARRAY['en','de','fr','ja'])[1 + i % 4],
                                                                'beta', i % 2 = 0),
                                    'scores', jsonb_build_array(i % 10, i % 7, NULL)) END,
       ((i * 37) % 10000) / 100.0 + i * 0.0001,
       i % 17 <> 0,
       timestamptz '2023-06-01 00:00:00+00' + i * interval '1 hour'
FROM generate_series(1, 494) AS i;

-- awkward text values (ids 495..500)
INSERT INTO public.users (id, email, display_name, tags, profile, balance, created_at) VALUES
 (495, 'zoe@example.test',      'Zoë Ñandú 🚀 日本',             ARRAY['ünï', 'emoji 🚀'], '{"name": "Zoë", "k\"q": "a\\b"}', 1.5, '2023-06-21 15:00:00+00'),
 (496, 'empty@example.test',    '',                              ARRAY['', NULL],          '{}',                            0,   '2023-06-21 16:00:00+00'),
 (497, 'quote@example.test',    'O''Brien "the" \backslash',     ARRAY['a,b', 'c"d', 'e\f'], '{"nested": {"deep": [1, [2, [3]]]}}', -0.0001, '2023-06-21 17:00:00+00'),
 (498, 'newline@example.test',  E'line1\nline2\ttab\r\n',        ARRAY[E'x\ny'],           '[]',                            99999999.9999, '2023-06-21 18:00:00+00'),
 (499, 'nul-ish@example.test',  'NULL',                          ARRAY['NULL'],            'null',                          0,   '2023-06-21 19:00:00+00'),
 (500, 'long@example.test',     repeat('long name ', 300),       NULL,                     '{"big": 12345678901234567890.123}', 42, '2023-06-21 20:00:00+00');

DO $$ BEGIN PERFORM setval('public.users_id_seq', 500); END $$;

-- ----------------------------------------------------------------- orders ---
CREATE TABLE public.orders (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES public.users (id),
    status     public.order_status NOT NULL DEFAULT 'pending',
    quantity   integer NOT NULL CHECK (quantity > 0),
    unit_price app.positive_amount NOT NULL,
    total      numeric(14,2),
    note       text,
    metadata   jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    shipped_at timestamptz
);
CREATE INDEX orders_created_at_idx ON public.orders (created_at);
CREATE INDEX orders_user_id_idx ON public.orders (user_id);
CREATE INDEX orders_pending_idx ON public.orders (created_at) WHERE status = 'pending';

CREATE FUNCTION public.orders_set_total() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.total := NEW.quantity * NEW.unit_price;
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_total BEFORE INSERT OR UPDATE ON public.orders
    FOR EACH ROW EXECUTE FUNCTION public.orders_set_total();

INSERT INTO public.orders (user_id, status, quantity, unit_price, note, metadata, created_at, shipped_at)
SELECT 1 + (i * 7) % 500,
       (ARRAY['pending','paid','shipped','cancelled','refunded']::public.order_status[])[1 + i % 5],
       1 + i % 9,
       ((i * 131) % 50000) / 100.0 + 0.5,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'order #' || i END,
       CASE WHEN i % 3 = 0 THEN NULL
            ELSE jsonb_build_object('channel', (ARRAY['web','app','phone'])[1 + i % 3],
                                    'coupon', CASE WHEN i % 10 = 0 THEN 'SAVE10' END,
                                    'weights', to_jsonb(ARRAY[i % 3, i % 5])) END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '17 minutes',
       CASE WHEN i % 5 = 2 THEN timestamptz '2024-01-01 00:00:00+00' + i * interval '17 minutes' + interval '1 day 3 hours' END
FROM generate_series(1, 2000) AS i;

CREATE FUNCTION public.order_total(p_order_id bigint) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT total FROM public.orders WHERE id = p_order_id
$$;

-- ------------------------------------------------------------ order_items ---
CREATE TABLE app.order_items (
    order_id   bigint NOT NULL REFERENCES public.orders (id) ON DELETE CASCADE,
    line_no    smallint NOT NULL,
    sku        text NOT NULL,
    qty        integer NOT NULL CHECK (qty > 0),
    price      numeric(12,2) NOT NULL,
    line_total numeric(14,2) GENERATED ALWAYS AS (qty * price) STORED,
    PRIMARY KEY (order_id, line_no)
);
INSERT INTO app.order_items (order_id, line_no, sku, qty, price)
SELECT o, l, 'SKU-' || lpad(((o * 3 + l) % 977)::text, 4, '0'), 1 + (o + l) % 4, ((o * 17 + l * 29) % 10000) / 100.0
FROM generate_series(1, 1000) AS o, generate_series(1, 3) AS l;

-- ------------------------------------------------------------- events_nopk --
CREATE TABLE public.events_nopk (
    kind        text,
    actor       uuid,
    source_ip   inet,
    payload     jsonb,
    raw         bytea,
    duration    interval,
    counter     integer,
    happened_at timestamptz
);
INSERT INTO public.events_nopk
SELECT (ARRAY['login','logout','purchase','error'])[1 + i % 4],
       CASE WHEN i % 6 = 0 THEN NULL ELSE md5('actor' || (i % 40))::uuid END,
       CASE WHEN i % 9 = 0 THEN NULL WHEN i % 2 = 0 THEN ('10.0.' || (i % 256) || '.' || (i % 7))::inet
            ELSE ('2001:db8::' || to_hex(i))::inet END,
       CASE WHEN i % 5 = 0 THEN NULL ELSE jsonb_build_object('i', i, 'ok', i % 4 <> 3) END,
       CASE WHEN i % 8 = 0 THEN NULL WHEN i % 8 = 1 THEN ''::bytea ELSE decode(md5(i::text), 'hex') END,
       CASE WHEN i % 10 = 0 THEN NULL ELSE i * interval '1 second 250 milliseconds' END,
       CASE WHEN i % 3 = 0 THEN NULL ELSE i END,
       timestamptz '2024-01-10 00:00:00+00' + (i % 150) * interval '1 minute'
FROM generate_series(1, 296) AS i;
-- exact duplicates: no key can tell these apart
INSERT INTO public.events_nopk VALUES
 ('dup', NULL, '127.0.0.1', '{"dup": true}', '\x00ff', '1 day', 7, '2024-01-10 12:00:00+00'),
 ('dup', NULL, '127.0.0.1', '{"dup": true}', '\x00ff', '1 day', 7, '2024-01-10 12:00:00+00'),
 ('dup', NULL, '127.0.0.1', '{"dup": true}', '\x00ff', '1 day', 7, '2024-01-10 12:00:00+00'),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- ------------------------------------------------------------ measurements --
CREATE TABLE app.measurements (
    sensor_id   integer NOT NULL,
    measured_on date NOT NULL,
    value       double precision,
    reading     numeric,
    ratio       real,
    PRIMARY KEY (sensor_id, measured_on),
    CHECK (sensor_id > 0)
) PARTITION BY RANGE (measured_on);
CREATE TABLE app.measurements_2024_01 PARTITION OF app.measurements
    FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE app.measurements_2024_02 PARTITION OF app.measurements
    FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
CREATE TABLE app.measurements_2024_03 PARTITION OF app.measurements
    FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
CREATE TABLE app.measurements_default PARTITION OF app.measurements DEFAULT;
CREATE INDEX measurements_value_idx ON app.measurements (measured_on, value);

INSERT INTO app.measurements (sensor_id, measured_on, value, reading, ratio)
SELECT 1 + i % 4,
       date '2024-01-01' + (i / 4),          -- 2024-01-01 .. 2024-04-09 (last days land in DEFAULT)
       CASE WHEN i % 50 = 7 THEN NULL ELSE (i * 1.1) / 3 END,
       CASE WHEN i % 40 = 3 THEN NULL ELSE round((i * 7.13)::numeric, 3) END,
       (i % 100) / 7.0
FROM generate_series(0, 395) AS i;
INSERT INTO app.measurements (sensor_id, measured_on, value, reading, ratio) VALUES
 (90, '2024-01-15', 'NaN',       'NaN', 'NaN'),
 (91, '2024-02-15', 'Infinity',  1e-20, 'Infinity'),
 (92, '2024-03-15', '-Infinity', -1e20, '-Infinity'),
 (93, '2023-12-31', '-0',        0.000, '-0');

-- -------------------------------------------------------------- documents ---
CREATE TABLE app.documents (
    id         integer PRIMARY KEY,
    title      text NOT NULL,
    body       text,
    blob       bytea,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE app.documents ALTER COLUMN blob SET STORAGE EXTERNAL;
-- hex of chained md5s: compresses poorly, so the values go out of line (TOAST)
INSERT INTO app.documents (id, title, body, blob, created_at)
SELECT d,
       'document ' || d,
       CASE WHEN d <= 3 THEN (SELECT string_agg(md5(d || ':' || n), ' ' ORDER BY n) FROM generate_series(1, 6000) AS n) END,
       CASE WHEN d IN (4, 5) THEN (SELECT decode(string_agg(md5(d || '/' || n), '' ORDER BY n), 'hex') FROM generate_series(1, 6400) AS n) END,
       timestamptz '2024-01-05 00:00:00+00' + d * interval '1 day'
FROM generate_series(1, 5) AS d;
INSERT INTO app.documents (id, title, body, blob, created_at) VALUES
 (6, 'small', 'short body', '\xdeadbeef', '2024-01-11 00:00:00+00');

-- ------------------------------------------------------- quoted identifiers -
CREATE TABLE app."MixedCase" (
    "Id"          integer PRIMARY KEY,
    "camelColumn" text,
    "with space"  text,
    "select"      integer,
    "UPPER"       numeric(8,3) DEFAULT 1.5
);
INSERT INTO app."MixedCase" ("Id", "camelColumn", "with space", "select", "UPPER")
SELECT i, 'Value' || i, CASE WHEN i % 2 = 0 THEN 'a b ' || i END, i * i, i / 8.0
FROM generate_series(1, 50) AS i;

CREATE TABLE public."naïve_tbl" (
    "clé"    text PRIMARY KEY,
    "värde"  integer NOT NULL,
    "日本語" text
);
INSERT INTO public."naïve_tbl" ("clé", "värde", "日本語")
SELECT 'clé-' || lpad(i::text, 2, '0'), i * 3, CASE WHEN i % 3 = 0 THEN NULL ELSE 'テスト' || i END
FROM generate_series(1, 30) AS i;

-- -------------------------------------------------------------- sequences ---
CREATE SEQUENCE app.invoice_no_seq START 1000 INCREMENT 7;
DO $$ BEGIN PERFORM nextval('app.invoice_no_seq') FROM generate_series(1, 11); END $$;  -- last_value 1070

-- ------------------------------------------------------------------ views ---
CREATE VIEW public.active_users_v AS
    SELECT id, email, display_name FROM public.users WHERE is_active;
CREATE VIEW app.order_totals_v AS
    SELECT o.user_id, count(*) AS n_orders, sum(o.total) AS total
    FROM public.orders o GROUP BY o.user_id;
CREATE MATERIALIZED VIEW audit.daily_order_counts_mv AS
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n
    FROM public.orders GROUP BY 1;

-- ========================================================================
-- music: a chinook-like store (generated, deterministic)
-- ========================================================================
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fixture_reader') THEN
        CREATE ROLE fixture_reader NOLOGIN;
    END IF;
END $$;

CREATE SCHEMA music;
COMMENT ON SCHEMA music IS 'a record store: artists, albums, tracks, playlists';
CREATE COLLATION music.sv (provider = icu, locale = 'sv-SE');
COMMENT ON COLLATION music.sv IS 'Swedish order for artist names';
CREATE TYPE music.media_kind AS ENUM ('MPEG audio file', 'Protected AAC audio file', 'Protected MPEG-4 video file',
                                      'Purchased AAC audio file', 'AAC audio file');
COMMENT ON TYPE music.media_kind IS 'how a track is delivered';
CREATE DOMAIN music.milliseconds AS integer CHECK (VALUE > 0);
COMMENT ON DOMAIN music.milliseconds IS 'a duration, always positive';
CREATE TEXT SEARCH CONFIGURATION music.track_search (COPY = pg_catalog.simple);

CREATE TABLE music.artist (
    artist_id serial PRIMARY KEY,
    name      text COLLATE music.sv NOT NULL
);
COMMENT ON TABLE music.artist IS 'performers';
COMMENT ON COLUMN music.artist.name IS 'as printed on the cover';
CREATE TABLE music.album (
    album_id  integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    title     text NOT NULL,
    artist_id integer NOT NULL REFERENCES music.artist
);
CREATE TABLE music.genre (genre_id integer PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE music.media_type (media_type_id integer PRIMARY KEY, kind music.media_kind NOT NULL);
CREATE TABLE music.track (
    track_id      integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    album_id      integer REFERENCES music.album,
    media_type_id integer NOT NULL REFERENCES music.media_type,
    genre_id      integer REFERENCES music.genre,
    composer      text,
    milliseconds  music.milliseconds NOT NULL,
    bytes         integer,
    unit_price    numeric(10,2) NOT NULL CONSTRAINT track_price_positive CHECK (unit_price >= 0),
    search        tsvector GENERATED ALWAYS AS (to_tsvector('music.track_search'::regconfig, name)) STORED
);
COMMENT ON TABLE music.track IS 'one recording';
COMMENT ON COLUMN music.track.milliseconds IS 'length of the recording';
COMMENT ON CONSTRAINT track_price_positive ON music.track IS 'free tracks allowed, negative prices not';
CREATE INDEX track_album_idx ON music.track (album_id);
CREATE INDEX track_search_idx ON music.track USING gin (search);
COMMENT ON INDEX music.track_search_idx IS 'full-text search over track names';
COMMENT ON SEQUENCE music.track_track_id_seq IS 'identity of music.track';
CREATE TABLE music.playlist (playlist_id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE music.playlist_track (
    playlist_id integer NOT NULL REFERENCES music.playlist,
    track_id    integer NOT NULL REFERENCES music.track,
    PRIMARY KEY (playlist_id, track_id)
);
COMMENT ON TABLE music.playlist_track IS 'which tracks each playlist holds; two playlists hold most';

INSERT INTO music.artist (artist_id, name)
SELECT i, (ARRAY['Ökna', 'Åsa', 'Zeta', 'Ärla', 'Bo', 'Citron', 'Dahl'])[1 + i % 7] || ' ' || i FROM generate_series(1, 275) AS i;
SELECT setval('music.artist_artist_id_seq', 275);
INSERT INTO music.album (album_id, title, artist_id)
SELECT i, 'Album ' || i || CASE WHEN i % 9 = 0 THEN ' (Live)' ELSE '' END, 1 + (i * 7) % 275 FROM generate_series(1, 347) AS i;
SELECT setval('music.album_album_id_seq', 347);
INSERT INTO music.genre SELECT i, 'Genre ' || i FROM generate_series(1, 25) AS i;
INSERT INTO music.media_type SELECT i, (enum_range(NULL::music.media_kind))[i] FROM generate_series(1, 5) AS i;
INSERT INTO music.track (track_id, name, album_id, media_type_id, genre_id, composer, milliseconds, bytes, unit_price)
OVERRIDING SYSTEM VALUE
SELECT i, (ARRAY['Love', 'Night', 'Road', 'Fire', 'Rain', 'Blues', 'Heart'])[1 + i % 7] || ' song ' || i,
       1 + i % 347, 1 + i % 5, 1 + (i * 3) % 25,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'Composer ' || (i % 90) END,
       60000 + (i * 7919) % 400000, CASE WHEN i % 11 = 0 THEN NULL ELSE 1000000 + (i * 104729) % 9000000 END,
       CASE WHEN i % 5 = 0 THEN 1.99 ELSE 0.99 END
FROM generate_series(1, 3503) AS i;
SELECT setval('music.track_track_id_seq', 3503);
INSERT INTO music.playlist SELECT i, 'Playlist ' || i FROM generate_series(1, 18) AS i;
INSERT INTO music.playlist_track
SELECT p, t FROM generate_series(1, 18) AS p, generate_series(1, 3503) AS t
WHERE (p IN (1, 8) AND t <= 3290) OR (p NOT IN (1, 8) AND (t * p) % 97 < 2);

CREATE FUNCTION music.track_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.track_id <= 0 THEN RAISE EXCEPTION 'track % cannot be deleted', OLD.track_id; END IF;
        RETURN OLD;
    END IF;
    IF NEW.milliseconds > 3600000 THEN RAISE EXCEPTION 'track % is longer than an hour', NEW.track_id; END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION music.track_check() IS 'refuses tracks longer than an hour';
CREATE FUNCTION music.track_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER track_check_length BEFORE INSERT OR UPDATE ON music.track
    FOR EACH ROW EXECUTE FUNCTION music.track_check();
CREATE TRIGGER track_replica_sync AFTER INSERT ON music.track FOR EACH ROW EXECUTE FUNCTION music.track_noop();
ALTER TABLE music.track ENABLE REPLICA TRIGGER track_replica_sync;
CREATE TRIGGER track_always_guard BEFORE DELETE ON music.track FOR EACH ROW EXECUTE FUNCTION music.track_check();
ALTER TABLE music.track ENABLE ALWAYS TRIGGER track_always_guard;
CREATE TRIGGER track_audit AFTER UPDATE ON music.track FOR EACH ROW EXECUTE FUNCTION music.track_noop();
ALTER TABLE music.track DISABLE TRIGGER track_audit;
COMMENT ON TRIGGER track_check_length ON music.track IS 'length limit';

CREATE STATISTICS music.track_album_genre_stx (dependencies, ndistinct) ON album_id, genre_id FROM music.track;
COMMENT ON STATISTICS music.track_album_genre_stx IS 'album and genre go together';

CREATE MATERIALIZED VIEW music.genre_stats_mv AS
    SELECT genre_id, count(*) AS tracks, sum(milliseconds::integer) AS total_ms FROM music.track GROUP BY genre_id;
COMMENT ON MATERIALIZED VIEW music.genre_stats_mv IS 'refreshed nightly';
CREATE MATERIALIZED VIEW music.playlist_sizes_mv AS
    SELECT playlist_id, count(*) AS tracks FROM music.playlist_track GROUP BY playlist_id WITH NO DATA;
COMMENT ON MATERIALIZED VIEW music.playlist_sizes_mv IS 'not populated until its first refresh';
CREATE VIEW music.track_v WITH (security_barrier = true) AS
    SELECT t.track_id, t.name, a.title AS album FROM music.track t LEFT JOIN music.album a USING (album_id);
COMMENT ON VIEW music.track_v IS 'tracks with their album';

-- ========================================================================
-- saas: a multi-tenant schema with row-level security
-- ========================================================================
CREATE SCHEMA saas;
CREATE TABLE saas.tenants (
    id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL
);
INSERT INTO saas.tenants (name) SELECT 'tenant ' || i FROM generate_series(1, 5) AS i;
CREATE SEQUENCE saas.account_id_seq;
COMMENT ON SEQUENCE saas.account_id_seq IS 'shared by every tenant';
CREATE TABLE saas.accounts (
    tenant_id integer NOT NULL REFERENCES saas.tenants,
    id        bigint NOT NULL DEFAULT nextval('saas.account_id_seq'),
    email     text NOT NULL,
    plan      text NOT NULL DEFAULT 'free',
    deleted   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, id)
);
COMMENT ON TABLE saas.accounts IS 'one row per account, keyed by tenant first';
INSERT INTO saas.accounts (tenant_id, email, plan, deleted)
SELECT 1 + i % 5, 'acct' || i || '@tenant' || (1 + i % 5) || '.test', (ARRAY['free', 'pro', 'team'])[1 + i % 3], i % 50 = 0
FROM generate_series(1, 2000) AS i ORDER BY i;
ALTER TABLE saas.accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE saas.accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON saas.accounts
    USING (tenant_id = current_setting('app.tenant_id', true)::integer);
CREATE POLICY hide_deleted ON saas.accounts AS RESTRICTIVE FOR SELECT USING (NOT deleted);
CREATE POLICY reader_all ON saas.accounts FOR SELECT TO fixture_reader USING (true);
COMMENT ON POLICY tenant_isolation ON saas.accounts IS 'a session sees its own tenant';
GRANT SELECT ON saas.accounts TO fixture_reader;

CREATE TABLE saas.audit_events (
    id     bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    tenant integer NOT NULL,
    what   text NOT NULL
);
INSERT INTO saas.audit_events (tenant, what) SELECT 1 + i % 5, 'event ' || i FROM generate_series(1, 300) AS i;
CREATE RULE audit_events_no_delete AS ON DELETE TO saas.audit_events DO INSTEAD NOTHING;
CREATE RULE audit_events_no_update AS ON UPDATE TO saas.audit_events DO INSTEAD NOTHING;
ALTER TABLE saas.audit_events DISABLE RULE audit_events_no_update;
COMMENT ON RULE audit_events_no_delete ON saas.audit_events IS 'the audit log is append-only';

CREATE FUNCTION audit.ddl_watch() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;
CREATE EVENT TRIGGER fixture_ddl_watch ON ddl_command_end EXECUTE FUNCTION audit.ddl_watch();
COMMENT ON EVENT TRIGGER fixture_ddl_watch IS 'watches DDL (does nothing)';

COMMIT;

ANALYZE;
