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

  it('lets one probe through when half-open and fails the other calls fast, before the probe settles', async () => {
    const guard = new SourceGuard('crm', { breakerFailures: 1, breakerCooldownMs: 100, maxConcurrent: 10, queue: 10 });
    await expect(guard.run(() => Promise.reject(new SourceError('crm', 'timeout', 'slow')))).rejects.toMatchObject({ kind: 'timeout' });
    await sleep(150);
    let calls = 0;
    const settled: string[] = [];
    const probe = guard.run(() => (calls++, sleep(200).then(() => 'probe answered')), Date.now() + 5000).finally(() => settled.push('probe'));
    const others = Array.from({ length: 5 }, (_, i) => guard.run(async () => (calls++, 'other'), Date.now() + 5000).finally(() => settled.push(`other ${i}`)));
    const outcomes = await Promise.allSettled(others);
    expect(outcomes.every((o) => o.status === 'rejected' && (o.reason as SourceError).kind === 'unavailable')).toBe(true);
    expect(guard.state).toBe('half-open');
    expect(await probe).toBe('probe answered');
    expect(settled.at(-1)).toBe('probe');
    expect(calls).toBe(1);
    expect(guard.state).toBe('closed');
  });

  it('ends a probe against a hanging source at its deadline and opens the breaker again', async () => {
    const guard = new SourceGuard('crm', { breakerFailures: 1, breakerCooldownMs: 100, maxConcurrent: 10, queue: 10 });
    await expect(guard.run(() => Promise.reject(new SourceError('crm', 'unavailable', 'down')))).rejects.toMatchObject({ kind: 'unavailable' });
    await sleep(150);
    const started = Date.now();
    await expect(guard.run(() => new Promise(() => undefined), Date.now() + 100)).rejects.toMatchObject({ kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(guard.state).toBe('open');
  });

  it('hands the call a signal that aborts at the deadline', async () => {
    const guard = new SourceGuard('email', { breakerFailures: 1, breakerCooldownMs: 1000, maxConcurrent: 10, queue: 10 });
    let seen: AbortSignal | undefined;
    const call = (signal: AbortSignal) => {
      seen = signal;
      return new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
    };
    await expect(guard.run(call, Date.now() + 50)).rejects.toMatchObject({ kind: 'timeout', source: 'email' });
    expect(seen?.aborted).toBe(true);
    // A call that stopped because its caller gave up says nothing about the source.
    await sleep(10);
    expect(guard.state).toBe('closed');
  });

  it('counts only failures that say the source is down', async () => {
    const guard = new SourceGuard('web', { breakerFailures: 2, breakerCooldownMs: 1000, maxConcurrent: 10, queue: 10 });
    const contract = new SourceError('web', 'bad_response', 'no table web.product_removed', { retryable: false });
    for (let i = 0; i < 3; i++) await expect(guard.run(() => Promise.reject(contract))).rejects.toBe(contract);
    expect(guard.state).toBe('closed');
    const unreadable = new SourceError('web', 'bad_response', 'a body cut off', { retryable: true });
    for (let i = 0; i < 2; i++) await expect(guard.run(() => Promise.reject(unreadable))).rejects.toBe(unreadable);
    expect(guard.state).toBe('open');
  });

  it('sends a statement the upstream refused once per cool-down for its family, and no other family waits', async () => {
    const guard = new SourceGuard('commerce', { breakerFailures: 2, breakerCooldownMs: 150, maxConcurrent: 10, queue: 10 });
    const contract = new SourceError('commerce', 'bad_response', 'column customers.signup_channel does not exist', { retryable: false });
    let calls = 0;
    const refused = () => (calls++, Promise.reject(contract));
    for (let i = 0; i < 5; i++) await expect(guard.run(refused, undefined, 'customer-by-email')).rejects.toBe(contract);
    expect(calls).toBe(1);
    expect(await guard.run(async () => 'other family', undefined, 'purchases')).toBe('other family');
    expect(guard.state).toBe('closed');
    await sleep(200);
    expect(await guard.run(async () => (calls++, 'mended'), undefined, 'customer-by-email')).toBe('mended');
    expect(calls).toBe(2);
  });
});
