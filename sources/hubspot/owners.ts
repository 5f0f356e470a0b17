import type { Client } from '@hubspot/api-client';
import type { BatchFn } from '../errors.ts';
import { malformed, text } from './batch.ts';
import type { Caller } from './caller.ts';
import type { CrmOwner } from './model.ts';

type OwnersApi = Client['crm']['owners']['ownersApi'];

const WHAT = 'owner read';
const NUMERIC_ID = /^\d{1,15}$/;
/** Owner ids come from contacts' hubspot_owner_id, i.e. the portal's users: a cap only guards odd input. */
const MAX_CACHED = 10_000;

interface Cached {
  readonly expiresAt: number;
  readonly owner: Promise<CrmOwner | null>;
}

/** Owners by id with an in-process cache, plus a way to drop it. */
export interface OwnerReader {
  /**
   * One entry per key, in key order: the owner, null when HubSpot has none (also remembered), or
   * an Error for that owner alone; throws only when every owner failed. Owners change rarely and
   * the API has no batch read, so each is fetched once (one GET) and reused for `ttlMs`, and
   * concurrent calls share the fetch. Failures are not cached.
   */
  readonly ownersById: BatchFn<string, CrmOwner>;
  clear(): void;
}

export function ownerReader(caller: Caller, api: OwnersApi, ttlMs: number): OwnerReader {
  const cache = new Map<string, Cached>();

  function owner(id: string): Promise<CrmOwner | null> {
    const now = Date.now();
    const cached = cache.get(id);
    if (cached && cached.expiresAt > now) return cached.owner;
    if (cache.size >= MAX_CACHED) cache.clear();
    const loading = fetchOwner(caller, api, id);
    cache.set(id, { expiresAt: now + ttlMs, owner: loading });
    loading.catch(() => {
      if (cache.get(id)?.owner === loading) cache.delete(id);
    });
    return loading;
  }

  return {
    async ownersById(ids) {
      const unique = [...new Set(ids)].filter((id) => NUMERIC_ID.test(id));
      const settled = await Promise.allSettled(unique.map(owner));
      const rejected = settled.find((s) => s.status === 'rejected');
      if (rejected && settled.every((s) => s.status === 'rejected')) throw rejected.reason;
      const answers = new Map(unique.map((id, i) => [id, settled[i]!]));
      return ids.map((id) => {
        const answer = answers.get(id);
        if (!answer) return null;
        return answer.status === 'fulfilled' ? answer.value : (answer.reason as Error);
      });
    },
    clear: () => cache.clear(),
  };
}

async function fetchOwner(caller: Caller, api: OwnersApi, id: string): Promise<CrmOwner | null> {
  const found = await caller.call(WHAT, async () => {
    try {
      return await api.getById(Number(id), 'id', false);
    } catch (error) {
      // The one failure that is an answer: HubSpot has no such owner.
      if ((error as { code?: unknown } | null)?.code === 404) return null;
      throw error;
    }
  });
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
