import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { SourceGuard } from '../../cache/guard.ts';
import { SourceError } from '../../sources/errors.ts';

const down = () => Promise.reject(new SourceError('email', 'unavailable', 'down'));

describe('the source guard', () => {
  it('opens the breaker after N failures in a row, fails fast, then closes after a good probe', async () => {
    const guard = new SourceGuard('email', { breakerFailures: 3, breakerCooldownMs: 150, maxConcurrent: 10, queue: 10 });
    let calls = 0;
    const failing = () => (calls++, down());
    for (let i = 0; i < 3; i++) await expect(guard.run(failing)).rejects.toMatchObject({ kind: 'unavailable' });
    expect(guard.state).toBe('open');
    await expect(guard.run(failing)).rejects.toMatchObject({ kind: 'unavailable', message: 'email: circuit open after repeated failures' });
    expect(calls).toBe(3);
    await sleep(200);
    expect(await guard.run(async () => 'probe answered')).toBe('probe answered');
    expect(guard.state).toBe('closed');
  });

  it('does not count a rate limit or a missing configuration against the source', async () => {
    const guard = new SourceGuard('crm', { breakerFailures: 2, breakerCooldownMs: 1000, maxConcurrent: 10, queue: 10 });
    for (const kind of ['rate_limited', 'not_configured', 'rate_limited'] as const) {
      await expect(guard.run(() => Promise.reject(new SourceError('crm', kind, 'no')))).rejects.toMatchObject({ kind });
    }
    expect(guard.state).toBe('closed');
  });

  it('turns calls beyond the bulkhead and its queue away', async () => {
    const guard = new SourceGuard('web', { breakerFailures: 100, breakerCooldownMs: 1000, maxConcurrent: 2, queue: 1 });
    const slow = () => sleep(100).then(() => 'ok');
    const results = await Promise.allSettled([guard.run(slow), guard.run(slow), guard.run(slow), guard.run(slow)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect((results[3] as PromiseRejectedResult).reason).toMatchObject({ kind: 'unavailable', message: 'web: too many calls in flight' });
  });

  it('answers SOURCE_TIMEOUT at the deadline without waiting for the call', async () => {
    const guard = new SourceGuard('crm', { breakerFailures: 100, breakerCooldownMs: 1000, maxConcurrent: 10, queue: 10 });
    let finished = false;
    const result = guard.run(() => sleep(300).then(() => (finished = true)), Date.now() + 30);
    await expect(result).rejects.toMatchObject({ kind: 'timeout', source: 'crm' });
    expect(finished).toBe(false);
  });
});
