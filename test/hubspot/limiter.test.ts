import { describe, expect, it } from 'vitest';
import { SourceError } from '../../sources/errors.ts';
import { createLimiter } from '../../sources/hubspot/limiter.ts';

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
