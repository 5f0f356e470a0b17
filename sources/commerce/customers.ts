import { inKeyOrder, run, type Queryable } from './db.ts';
import type { CommerceCustomer } from './model.ts';

const COLUMNS = `id::text AS id, lower(email) AS email, first_name, last_name, phone, city, region,
  postal_code, country_code, signup_at, signup_channel`;

interface CustomerRow {
  id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  phone: string | null;
  city: string | null;
  region: string | null;
  postal_code: string | null;
  country_code: string | null;
  signup_at: Date;
  signup_channel: string | null;
}

/** Customers by id (decimal strings), in key order; null for ids the shop does not have. One statement. */
export async function customersById(db: Queryable, ids: readonly string[]): Promise<Array<CommerceCustomer | null>> {
  const rows = await run<CustomerRow>(db, `SELECT ${COLUMNS} FROM customers WHERE id = ANY($1::bigint[])`, [ids]);
  return inKeyOrder(ids, rows.map(toCustomer), (c) => c.id);
}

/** The email lookup ($1: lower-cased emails); the contract check EXPLAINs this very statement. */
export const CUSTOMERS_BY_EMAIL = `SELECT ${COLUMNS} FROM customers WHERE lower(email) = ANY($1::text[])`;

/** Customers by email (already trimmed and lower-cased), in key order; null when unknown. One statement. */
export async function customersByEmail(db: Queryable, emails: readonly string[]): Promise<Array<CommerceCustomer | null>> {
  const rows = await run<CustomerRow>(db, CUSTOMERS_BY_EMAIL, [emails]);
  return inKeyOrder(emails, rows.map(toCustomer), (c) => c.email);
}

function toCustomer(row: CustomerRow): CommerceCustomer {
  return {
    id: row.id,
    email: row.email,
    firstName: row.first_name,
    lastName: row.last_name,
    phone: row.phone,
    city: row.city,
    region: row.region,
    postalCode: row.postal_code,
    countryCode: row.country_code?.trim() || null,
    signupAt: row.signup_at,
    signupChannel: row.signup_channel,
  };
}
