-- The warehouse layout the web source reads: Segment's and RudderStack's "Warehouse Schemas", one
-- PostgreSQL schema per event source. :"schema" is that schema's name: `psql -v schema=web -f
-- schema.sql` runs this file as it is; sources/web/ddl.ts substitutes a validated, quoted name.
-- Only the columns the source and the demo use are here: a real pipeline adds a column per trait
-- and property, which the source ignores. Event tables carry no primary key, like the vendors'
-- (the pipeline deduplicates on `id`); nothing here looks rows up by id.

CREATE SCHEMA IF NOT EXISTS :"schema";

-- One row per identify call: the link from a browser's anonymous_id to the shop's user id.
CREATE TABLE IF NOT EXISTS :"schema".identifies (
  id                 TEXT PRIMARY KEY,
  anonymous_id       TEXT,
  user_id            TEXT,
  "timestamp"        TIMESTAMPTZ NOT NULL,
  received_at        TIMESTAMPTZ NOT NULL,
  email              TEXT,
  first_name         TEXT,
  last_name          TEXT,
  context_user_agent TEXT,
  context_ip         TEXT,
  context_locale     TEXT
);

-- One row per known user, with the latest traits.
CREATE TABLE IF NOT EXISTS :"schema".users (
  id          TEXT PRIMARY KEY,
  received_at TIMESTAMPTZ NOT NULL,
  email       TEXT,
  first_name  TEXT,
  last_name   TEXT
);

CREATE TABLE IF NOT EXISTS :"schema".pages (
  id                      TEXT NOT NULL,
  anonymous_id            TEXT,
  user_id                 TEXT,
  "timestamp"             TIMESTAMPTZ NOT NULL,
  received_at             TIMESTAMPTZ NOT NULL,
  path                    TEXT,
  url                     TEXT,
  title                   TEXT,
  referrer                TEXT,
  search                  TEXT,
  name                    TEXT,
  category                TEXT,
  context_user_agent      TEXT,
  context_ip              TEXT,
  context_locale          TEXT,
  context_campaign_source TEXT,
  context_campaign_medium TEXT,
  context_campaign_name   TEXT,
  context_page_referrer   TEXT
);

-- Every track call, whatever its event; each also lands in its event's own table with the same id.
CREATE TABLE IF NOT EXISTS :"schema".tracks (
  id                      TEXT NOT NULL,
  anonymous_id            TEXT,
  user_id                 TEXT,
  event                   TEXT NOT NULL,
  event_text              TEXT NOT NULL,
  "timestamp"             TIMESTAMPTZ NOT NULL,
  received_at             TIMESTAMPTZ NOT NULL,
  context_user_agent      TEXT,
  context_ip              TEXT,
  context_locale          TEXT,
  context_campaign_source TEXT,
  context_campaign_medium TEXT,
  context_campaign_name   TEXT,
  context_page_referrer   TEXT,
  context_page_path       TEXT,
  context_page_url        TEXT
);

-- Event tables (Segment e-commerce spec v2): the tracks columns plus the event's properties.
CREATE TABLE IF NOT EXISTS :"schema".product_viewed (LIKE :"schema".tracks,
  product_id TEXT, sku TEXT, category TEXT, name TEXT, brand TEXT, variant TEXT, price NUMERIC(12, 2), currency TEXT, url TEXT);
CREATE TABLE IF NOT EXISTS :"schema".product_added (LIKE :"schema".tracks,
  product_id TEXT, sku TEXT, category TEXT, name TEXT, brand TEXT, variant TEXT, price NUMERIC(12, 2), currency TEXT, quantity INTEGER);
CREATE TABLE IF NOT EXISTS :"schema".product_removed (LIKE :"schema".tracks,
  product_id TEXT, sku TEXT, category TEXT, name TEXT, brand TEXT, variant TEXT, price NUMERIC(12, 2), currency TEXT, quantity INTEGER);
CREATE TABLE IF NOT EXISTS :"schema".checkout_started (LIKE :"schema".tracks,
  order_id TEXT, value NUMERIC(12, 2), revenue NUMERIC(12, 2), currency TEXT);
CREATE TABLE IF NOT EXISTS :"schema".order_completed (LIKE :"schema".tracks,
  order_id TEXT, total NUMERIC(12, 2), revenue NUMERIC(12, 2), currency TEXT);
CREATE TABLE IF NOT EXISTS :"schema".products_searched (LIKE :"schema".tracks,
  query TEXT);

-- Indexes (ddl.ts splits the file here: the demo loads rows first and indexes after, which is
-- several times faster than maintaining them row by row).
-- Every read is one person's events in a time window: by user id, and by each anonymous id linked
-- to them. The anonymous-id indexes hold only rows not yet identified (user_id IS NULL), the only
-- ones read through them, which keeps them a fraction of the table.
CREATE INDEX IF NOT EXISTS identifies_user_idx ON :"schema".identifies (user_id, anonymous_id);
CREATE INDEX IF NOT EXISTS identifies_anonymous_idx ON :"schema".identifies (anonymous_id, user_id);
CREATE INDEX IF NOT EXISTS pages_user_idx ON :"schema".pages (user_id, "timestamp");
CREATE INDEX IF NOT EXISTS pages_anonymous_idx ON :"schema".pages (anonymous_id, "timestamp") WHERE user_id IS NULL;
CREATE INDEX IF NOT EXISTS tracks_user_idx ON :"schema".tracks (user_id, "timestamp");
CREATE INDEX IF NOT EXISTS tracks_anonymous_idx ON :"schema".tracks (anonymous_id, "timestamp") WHERE user_id IS NULL;
CREATE INDEX IF NOT EXISTS product_viewed_user_idx ON :"schema".product_viewed (user_id, "timestamp");
CREATE INDEX IF NOT EXISTS product_viewed_anonymous_idx ON :"schema".product_viewed (anonymous_id, "timestamp") WHERE user_id IS NULL;
CREATE INDEX IF NOT EXISTS product_added_user_idx ON :"schema".product_added (user_id, "timestamp");
CREATE INDEX IF NOT EXISTS product_added_anonymous_idx ON :"schema".product_added (anonymous_id, "timestamp") WHERE user_id IS NULL;
CREATE INDEX IF NOT EXISTS product_removed_user_idx ON :"schema".product_removed (user_id, "timestamp");
CREATE INDEX IF NOT EXISTS product_removed_anonymous_idx ON :"schema".product_removed (anonymous_id, "timestamp") WHERE user_id IS NULL;
CREATE INDEX IF NOT EXISTS checkout_started_user_idx ON :"schema".checkout_started (user_id, "timestamp");
CREATE INDEX IF NOT EXISTS checkout_started_anonymous_idx ON :"schema".checkout_started (anonymous_id, "timestamp") WHERE user_id IS NULL;
CREATE INDEX IF NOT EXISTS order_completed_user_idx ON :"schema".order_completed (user_id, "timestamp");
CREATE INDEX IF NOT EXISTS order_completed_anonymous_idx ON :"schema".order_completed (anonymous_id, "timestamp") WHERE user_id IS NULL;
CREATE INDEX IF NOT EXISTS products_searched_user_idx ON :"schema".products_searched (user_id, "timestamp");
CREATE INDEX IF NOT EXISTS products_searched_anonymous_idx ON :"schema".products_searched (anonymous_id, "timestamp") WHERE user_id IS NULL;
