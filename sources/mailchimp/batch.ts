import { SourceError } from '../errors.ts';
import type { BatchState } from './upstream.ts';

/** Reads one key; null when Mailchimp does not know it. Rejects with a SourceError. */
export type ReadOne<V> = (key: string, batch: BatchState, signal: AbortSignal | undefined) => Promise<V | null>;

/**
 * Mailchimp has no multi-member read, so a batch is one read per distinct key, all started at once
 * (the upstream's limit queues them). One entry per key, in key order: the value, null, or that
 * key's SourceError. Throws instead when every key failed the same way (a refused key, an outage,
 * all timeouts, the caller's deadline): that is the whole call failing, and the caller should hear it
 * once. `signal` reaches every read: once it aborts, no read that has not started starts.
 */
export async function eachKey<V>(keys: readonly string[], read: ReadOne<V>, signal?: AbortSignal): Promise<Array<V | null | Error>> {
  const batch: BatchState = {};
  const distinct = [...new Set(keys)];
  const settled = await Promise.all(distinct.map((key) => read(key, batch, signal).catch(asSourceError)));
  const common = commonFailure(settled);
  if (common) throw common;
  const byKey = new Map(distinct.map((key, i) => [key, settled[i] ?? null]));
  return keys.map((key) => byKey.get(key) ?? null);
}

function asSourceError(error: unknown): SourceError {
  return error instanceof SourceError ? error : new SourceError('email', 'bad_response', 'unexpected failure reading from Mailchimp', { cause: error, retryable: false });
}

function commonFailure(entries: readonly unknown[]): SourceError | null {
  const [first] = entries;
  if (!(first instanceof SourceError)) return null;
  return entries.every((entry) => entry instanceof SourceError && entry.kind === first.kind) ? first : null;
}
