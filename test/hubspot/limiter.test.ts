import { describe, expect, it } from 'vitest';
import { SourceError } from '../../sources/errors.ts';
import { createLimiter } from '../../sources/hubspot/limiter.ts';
import { everyone, source, standIn } from './support.ts';

const outcome = (slot: Promise<void>) =>
  slot.then(
    () => 'granted',
    (error: unknown) => (error instanceof SourceError ? error.kind : 'other'),
  );

describe('the HubSpot limiter in process', () => {
  it('grants a small burst at once, then paces: a call that cannot wait fails without taking a slot', async () => {
    const takeSlot = createLimiter({ requests: 100, intervalMs: 10_000 });
    const now = Date.now();
    // Nobody may wait: one slot of the even pace and a burst of 5 (100 / 20), the rest refused.
    const first = await Promise.all(Array.from({ length: 30 }, () => outcome(takeSlot('contacts batch read', now))));
    expect(first.filter((o) => o === 'granted')).toHaveLength(6);
    expect(first.filter((o) => o === 'rate_limited')).toHaveLength(24);
    // The refused calls left nothing queued: the next caller that can wait gets the next slot of the pace.
    expect(await outcome(takeSlot('contacts batch read', Date.now() + 5_000))).toBe('granted');
  });

  it('gives up at once when the next slot opens after its deadline, and at once when its signal aborts', async () => {
    const takeSlot = createLimiter({ requests: 4, intervalMs: 1_000 });
    // 4 per second: one slot every 333 ms, no burst.
    expect(await outcome(takeSlot('search', Date.now()))).toBe('granted');
    expect(await outcome(takeSlot('search', Date.now() + 50))).toBe('rate_limited');
    const controller = new AbortController();
    const waiting = outcome(takeSlot('search', Date.now() + 5_000, controller.signal));
    controller.abort();
    // Resolves without a slot; the caller checks its signal.
    expect(await waiting).toBe('granted');
  });
});

describe('a slot reserved for a read about to be made (reserveSlot)', () => {
  it('is the slot the next read uses: a reservation and its read take one slot between them', async () => {
    const stand = await standIn();
    // 20 per 10 s: two slots at once (the even pace's and a burst of one), the next 0.6 s later;
    // a 50 ms retry budget makes a call with no slot fail at once, whatever the machine's speed.
    const crm = source(stand, { rateLimit: { requests: 20, intervalMs: 10_000 }, retryBudgetMs: 50 });
    const email = everyone().find((person) => person.crm)!.email;
    await crm.reserveSlot(Date.now() + 1000);
    expect(await crm.contactsByEmail([email])).toHaveLength(1);
    // The read used the reserved slot, so the second slot is still there; then there is none.
    await expect(crm.ping()).resolves.toBeUndefined();
    await expect(crm.ping()).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(stand.stats.total).toBe(2);
  });

  it('is given at once with no retry budget when a slot is free, as a read is', async () => {
    const stand = await standIn();
    const crm = source(stand, { retryBudgetMs: 0 });
    await expect(crm.reserveSlot(Date.now() + 1000)).resolves.toBeUndefined();
    await expect(crm.reserveSlot(undefined)).resolves.toBeUndefined();
  });
});
