import type { Client } from '@hubspot/api-client';
import type { BatchFn } from '../errors.ts';
import { malformed, text } from './batch.ts';
import type { Caller } from './caller.ts';
import type { CrmOwner, HubSpotLogger } from './model.ts';

type OwnersApi = Client['crm']['owners']['ownersApi'];

const WHAT = 'owner read';
const NUMERIC_ID = /^\d{1,15}$/;
/** Owner ids come from contacts' hubspot_owner_id, i.e. the portal's users: a cap only guards odd input. */
const MAX_KNOWN = 10_000;

/** Owners by id, kept in process and refreshed in the background, plus a way to stop. */
export interface OwnerReader {
  /**
   * One entry per key, in key order: the owner, null when HubSpot has none (also remembered), or
   * an Error for that owner alone; throws only when every owner failed. Owners change rarely and
   * the API has no batch read: an owner seen before is answered from memory, however long ago it
   * was read (the background refresh keeps it current); only an id never seen is fetched here (one
   * GET, shared by concurrent callers; `signal` stops it as BatchFn says). Failures are not kept.
   */
  readonly ownersById: BatchFn<string, CrmOwner>;
  /**
   * Reads every remembered owner again now; a failed read keeps the previous answer. One refresh
   * at a time (a call during one joins it); never rejects. Runs by itself every `ttlMs` once an
   * owner is remembered.
   */
  refresh(): Promise<void>;
  /** Forgets every owner and stops remembering them (the source is closing). */
  clear(): void;
}

/**
 * `ttlMs` is the refresh interval (an unref'ed timer: it never holds the process open); 0 turns
 * the memory off, so every call reads HubSpot. A failed refresh is logged once until one succeeds.
 */
export function ownerReader(caller: Caller, api: OwnersApi, ttlMs: number, logger?: HubSpotLogger): OwnerReader {
  const known = new Map<string, CrmOwner | null>();
  const pending = new Map<string, Promise<CrmOwner | null>>();
  let refreshing: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  let failing = false;
  let cleared = false;

  function remember(id: string, owner: CrmOwner | null): void {
    if (ttlMs <= 0 || cleared) return;
    if (!known.has(id) && known.size >= MAX_KNOWN) known.clear();
    known.set(id, owner);
    if (!timer) {
      timer = setInterval(() => void refresh(), ttlMs);
      timer.unref();
    }
  }

  /** An id never seen: one fetch, whoever asks meanwhile. */
  function first(id: string, signal?: AbortSignal): Promise<CrmOwner | null> {
    let loading = pending.get(id);
    if (!loading) {
      loading = fetchOwner(caller, api, id, signal).then((owner) => (remember(id, owner), owner));
      pending.set(id, loading);
      void loading.finally(() => pending.delete(id)).catch(() => undefined);
    }
    return loading;
  }

  function refresh(): Promise<void> {
    refreshing ??= (async () => {
      const ids = [...known.keys()];
      const settled = await Promise.allSettled(ids.map((id) => fetchOwner(caller, api, id)));
      settled.forEach((result, i) => {
        if (result.status === 'fulfilled' && known.has(ids[i]!)) known.set(ids[i]!, result.value);
      });
      const failed = settled.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed.length > 0 && !failing) {
        logger?.warn(
          { source: 'crm', failed: failed.length, owners: ids.length, reason: (failed[0]!.reason as Error)?.message },
          'HubSpot owners could not be refreshed: serving the owners read before',
        );
      }
      failing = failed.length > 0;
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  return {
    async ownersById(ids, signal) {
      const unique = [...new Set(ids)].filter((id) => NUMERIC_ID.test(id));
      const settled = await Promise.allSettled(unique.map(async (id) => (known.has(id) ? (known.get(id) ?? null) : first(id, signal))));
      const rejected = settled.find((s) => s.status === 'rejected');
      if (rejected && settled.every((s) => s.status === 'rejected')) throw rejected.reason;
      const answers = new Map(unique.map((id, i) => [id, settled[i]!]));
      return ids.map((id) => {
        const answer = answers.get(id);
        if (!answer) return null;
        return answer.status === 'fulfilled' ? answer.value : (answer.reason as Error);
      });
    },
    refresh,
    clear() {
      cleared = true;
      clearInterval(timer);
      timer = undefined;
      known.clear();
    },
  };
}

async function fetchOwner(caller: Caller, api: OwnersApi, id: string, signal?: AbortSignal): Promise<CrmOwner | null> {
  const found = await caller.call(
    WHAT,
    async () => {
      try {
        return await api.getById(Number(id), 'id', false);
      } catch (error) {
        // The one failure that is an answer: HubSpot has no such owner.
        if ((error as { code?: unknown } | null)?.code === 404) return null;
        throw error;
      }
    },
    signal,
  );
  if (found === null) return null;
  const raw = found as { id?: unknown; email?: unknown; firstName?: unknown; lastName?: unknown; archived?: unknown };
  if (typeof raw.id !== 'string') throw malformed(WHAT, 'an owner without id');
  return {
    id: raw.id,
    email: text(raw.email)?.toLowerCase() ?? null,
    firstName: text(raw.firstName),
    lastName: text(raw.lastName),
    archived: raw.archived === true,
  };
}
