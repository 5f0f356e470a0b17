import type { Order, OrderPosition } from '../sources/commerce/model.ts';
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
