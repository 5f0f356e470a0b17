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

-- Page and track calls carry their context as columns. Besides the campaign: the load time
-- (uuid_ts, written by the connector), locale (analytics.js), timezone (mobile libraries), IP
-- geolocation (context_geo_*, RudderStack's enrichment; Segment has none) and the consent
-- categories of the CMP (Segment's context.consent.categoryPreferences, one boolean column per
-- category: here OneTrust's C0002 analytics and C0004 advertising, the source's defaults). A real
-- pipeline creates each when an event first carries it; the event tables below get them by LIKE.
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
  context_page_referrer   TEXT,
  uuid_ts                 TIMESTAMPTZ,
  context_timezone        TEXT,
  context_geo_country     TEXT,
  context_geo_region      TEXT,
  context_geo_city        TEXT,
  context_consent_category_preferences_c0002 BOOLEAN,
  context_consent_category_preferences_c0004 BOOLEAN
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
  context_page_url        TEXT,
  uuid_ts                 TIMESTAMPTZ,
  context_timezone        TEXT,
  context_geo_country     TEXT,
  context_geo_region      TEXT,
  context_geo_city        TEXT,
  context_consent_category_preferences_c0002 BOOLEAN,
  context_consent_category_preferences_c0004 BOOLEAN
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
-- Every family's read is one subject's events in a time window: by user id, and by each anonymous
-- id whose rows are theirs (linked to them, or an anonymous visitor's own). The anonymous-id
-- indexes hold only rows not yet identified (user_id IS NULL), the only ones those reads want,
-- which keeps them a fraction of the table. Consent refusals are a filter on these ranges, not an
-- index of their own: they are few, and a person's range is short.
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
-- A browser's first and last event, whatever user id its rows carry (visitors): a linked browser's
-- events after its login carry the user id, which the partial indexes above leave out. These hold
-- exactly those rows, so with the partial ones they cover each table once, and a read of the rows
-- not yet identified has only its own, smaller index to choose.
CREATE INDEX IF NOT EXISTS pages_anonymous_identified_idx ON :"schema".pages (anonymous_id, "timestamp") WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS tracks_anonymous_identified_idx ON :"schema".tracks (anonymous_id, "timestamp") WHERE user_id IS NOT NULL;
-- How current the warehouse is (loadStatus): max() of each is one end of its index.
CREATE INDEX IF NOT EXISTS pages_received_idx ON :"schema".pages (received_at);
CREATE INDEX IF NOT EXISTS tracks_received_idx ON :"schema".tracks (received_at);
-- The people of a load (push's warehouse poll) are a range of received_at in each table.
CREATE INDEX IF NOT EXISTS identifies_received_idx ON :"schema".identifies (received_at);
CREATE INDEX IF NOT EXISTS pages_loaded_idx ON :"schema".pages (uuid_ts);
CREATE INDEX IF NOT EXISTS tracks_loaded_idx ON :"schema".tracks (uuid_ts);
