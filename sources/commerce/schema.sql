-- The relational contract the commerce source reads. A shop with another schema meets it with
-- views of these names and columns (see docs/sources.md); the demo creates these tables as they are.
-- Money is NUMERIC in the shop currency (orders.currency); emails are stored lower-cased.

CREATE TABLE IF NOT EXISTS customers (
  id             BIGINT PRIMARY KEY,
  email          TEXT NOT NULL,
  first_name     TEXT,
  last_name      TEXT,
  phone          TEXT,
  city           TEXT,
  region         TEXT,
  postal_code    TEXT,
  country_code   CHAR(2),
  signup_at      TIMESTAMPTZ NOT NULL,
  signup_channel TEXT
);
-- Lookups by email: the source compares lower(email) with lower-cased keys.
CREATE UNIQUE INDEX IF NOT EXISTS customers_email_key ON customers (lower(email));

CREATE TABLE IF NOT EXISTS products (
  id       BIGINT PRIMARY KEY,
  sku      TEXT NOT NULL UNIQUE,
  name     TEXT NOT NULL,
  category TEXT NOT NULL,
  price    NUMERIC(12, 2) NOT NULL,
  currency CHAR(3) NOT NULL
);

CREATE TABLE IF NOT EXISTS orders (
  id           BIGINT PRIMARY KEY,
  customer_id  BIGINT NOT NULL REFERENCES customers (id),
  placed_at    TIMESTAMPTZ NOT NULL,
  -- Only 'completed' orders count towards purchases and RFM.
  status       TEXT NOT NULL CHECK (status IN ('completed', 'refunded', 'cancelled')),
  -- What the customer paid, after any discount.
  total_amount NUMERIC(12, 2) NOT NULL,
  currency     CHAR(3) NOT NULL,
  -- Optional (a shop may leave it out): what a discount took off the order, so total_amount +
  -- discount_amount is its value before the discount; NULL or 0 when none was applied.
  discount_amount NUMERIC(12, 2)
);
-- Every per-customer order query (aggregates, pages, latest order) is a range scan of this index.
CREATE INDEX IF NOT EXISTS orders_customer_placed_idx ON orders (customer_id, placed_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS order_items (
  order_id   BIGINT NOT NULL REFERENCES orders (id),
  line_no    INTEGER NOT NULL,
  product_id BIGINT NOT NULL REFERENCES products (id),
  quantity   INTEGER NOT NULL CHECK (quantity > 0),
  unit_price NUMERIC(12, 2) NOT NULL,
  PRIMARY KEY (order_id, line_no)
);

CREATE TABLE IF NOT EXISTS carts (
  id          BIGINT PRIMARY KEY,
  customer_id BIGINT NOT NULL REFERENCES customers (id),
  created_at  TIMESTAMPTZ NOT NULL,
  -- Last time an item was added, removed or changed.
  updated_at  TIMESTAMPTZ NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('open', 'converted'))
);
CREATE INDEX IF NOT EXISTS carts_customer_open_idx ON carts (customer_id, updated_at DESC) WHERE status = 'open';

CREATE TABLE IF NOT EXISTS cart_items (
  cart_id    BIGINT NOT NULL REFERENCES carts (id),
  product_id BIGINT NOT NULL REFERENCES products (id),
  quantity   INTEGER NOT NULL CHECK (quantity > 0),
  unit_price NUMERIC(12, 2) NOT NULL,
  added_at   TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (cart_id, product_id)
);
