import { SourceError } from '../errors.ts';

/**
 * Reads `keys` in chunks of at most `size` distinct keys, one `read` per chunk, all chunks at
 * once, and puts the answers back in key order (duplicates get the same answer; keys no chunk
 * answered get null). A chunk that fails puts its error at its own keys only, so one bad chunk
 * does not sink the others; when every chunk fails, the first error is thrown. Keys `canExist`
 * rejects get null without a request.
 */
export async function readInChunks<V>(
  keys: readonly string[],
  size: number,
  read: (chunk: string[]) => Promise<ReadonlyMap<string, V | Error>>,
  canExist: (key: string) => boolean = () => true,
): Promise<Array<V | null | Error>> {
  const chunks = chunk([...new Set(keys)].filter(canExist), size);
  if (chunks.length === 0) return keys.map(() => null);
  const settled = await Promise.allSettled(chunks.map(read));
  const firstFailure = settled.find((s) => s.status === 'rejected');
  if (firstFailure && settled.every((s) => s.status === 'rejected')) throw firstFailure.reason;
  const answers = new Map<string, V | Error>();
  settled.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') {
      for (const [key, value] of outcome.value) answers.set(key, value);
    } else {
      for (const key of chunks[i]!) answers.set(key, asError(outcome.reason));
    }
  });
  return keys.map((key) => answers.get(key) ?? null);
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

function asError(reason: unknown): Error {
  if (reason instanceof Error) return reason;
  return new SourceError('crm', 'bad_response', 'a HubSpot read failed without an error', { cause: reason });
}

export interface BatchFailure {
  readonly category: string;
  /** The inputs the failure names (`context.ids`, or `context.fromObjectId` for associations). */
  readonly ids: readonly string[];
}

/** The results and per-input failures of a batch answer (200, or 207 with `errors`). */
export function batchParts(what: string, response: unknown): { results: unknown[]; errors: BatchFailure[] } {
  const body = response as { results?: unknown; errors?: unknown } | null;
  if (!body || !Array.isArray(body.results)) throw malformed(what, 'no results array');
  const errors = Array.isArray(body.errors) ? body.errors : [];
  return {
    results: body.results,
    errors: errors.map((e: unknown) => {
      const error = e as { category?: unknown; context?: Record<string, unknown> } | null;
      const named = error?.context?.ids ?? error?.context?.fromObjectId;
      const ids = Array.isArray(named) ? named.filter((id): id is string => typeof id === 'string') : [];
      return { category: typeof error?.category === 'string' ? error.category : 'UNKNOWN', ids };
    }),
  };
}

/** A property value as our models hold it: HubSpot's empty string and absent values become null. */
export function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** A Date the SDK parsed, or null when the field was missing or not a date. */
export function validDate(value: unknown): Date | null {
  return value instanceof Date && !Number.isNaN(value.getTime()) ? value : null;
}

/** The SourceError for an answer whose shape is not what HubSpot documents. */
export function malformed(what: string, detail: string): SourceError {
  return new SourceError('crm', 'bad_response', `${what}: unexpected answer shape (${detail})`, { retryable: false });
}
