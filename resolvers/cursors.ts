import type { Order, OrderPosition } from '../sources/commerce/model.ts';
import type { AudienceOrder, AudiencePosition } from '../sources/commerce/audience.ts';
import { badUserInput } from './errors.ts';

// Cursors are opaque to clients (base64url) but carry the keyset position, so a page is an index
// range whatever its depth and stays stable while new orders or customers arrive.

export function orderCursor(order: Order): string {
  return Buffer.from(`o:${order.placedAt.toISOString()}:${order.id}`).toString('base64url');
}

export function decodeOrderCursor(cursor: string | null | undefined): OrderPosition | null {
  if (!cursor) return null;
  const match = /^o:(\d{4}-\d\d-\d\dT[\d:.]+Z):(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString());
  const placedAt = match && new Date(match[1]!);
  if (!match || !placedAt || Number.isNaN(placedAt.getTime())) throw badUserInput('after: not a cursor of this connection', 'after');
  return { placedAt, id: match[2]! };
}

export function customerCursor(id: string): string {
  return Buffer.from(`c:${id}`).toString('base64url');
}

export function decodeCustomerCursor(cursor: string | null | undefined): string | null {
  if (!cursor) return null;
  const match = /^c:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw badUserInput('after: not a cursor of this connection', 'after');
  return match[1]!;
}

/**
 * A cursor of `findCustomers` and `Audience.members`: the order it was made in, the customer id and
 * the value sorted on (as PostgreSQL prints it). A cursor of another order is refused rather than
 * read at a position that means something else.
 */
export function listCursor(order: AudienceOrder, position: AudiencePosition): string {
  return Buffer.from(JSON.stringify(['l', order.field, order.direction, position.id, position.value])).toString('base64url');
}

export function decodeListCursor(cursor: string | null | undefined, order: AudienceOrder): AudiencePosition | null {
  if (!cursor) return null;
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString());
  } catch {
    parts = null;
  }
  if (!Array.isArray(parts) || parts.length !== 5 || parts[0] !== 'l' || !parts.slice(1).every((part) => typeof part === 'string')) {
    throw badUserInput('after: not a cursor of this connection', 'after');
  }
  const [, field, direction, id, value] = parts as string[];
  if (field !== order.field || direction !== order.direction) throw badUserInput(`after: a cursor of another order (${field} ${direction})`, 'after');
  if (!/^\d{1,18}$/.test(id!) || value!.length > 64) throw badUserInput('after: not a cursor of this connection', 'after');
  return { id: id!, value: value! };
}
