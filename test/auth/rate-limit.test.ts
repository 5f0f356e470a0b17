import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CostLimiter } from '../../server/auth/rate-limit.ts';
import type { Principal } from '../../server/auth/scopes.ts';
import { startRedis } from '../support/own-redis.ts';

const open: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

const principal = (client: string): Principal => ({ kind: 'api-key', client, rateLimitKey: `key:${client}`, scopes: new Set(), customerId: null, anonymousId: null });

// CI provides Redis through REDIS_URL; this runs a redis-server of its own (it freezes it), where the other Redis tests run.
describe.skipIf(!process.env.REDIS_URL)('per-client budgets when Redis stops answering', () => {
  it("spends from the process's budget without holding the request, says so once, and spends in Redis again once it answers", async () => {
    // A Redis of this test's own, frozen (SIGSTOP) and thawed as one stuck for a while: its
    // connections stay open, so only a command timeout tells the client.
    const own = await startRedis();
    open.push(() => own.stop());
    const raw = new Redis(own.url);
    open.push(() => raw.disconnect());
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
    const limiter = new CostLimiter({ defaults: { costPerSecond: 10, burst: 10 }, redisUrl: own.url, logger });
    open.push(() => limiter.close());
    open.push(() => own.thaw()); // first, should the test fail while Redis is frozen
    await limiter.ready(5000);
    const client = principal(randomUUID());
    const steady = `c360:rl:10/10:steady:${client.rateLimitKey}`;

    await limiter.consume(client, 1);
    expect(await raw.get(steady)).toBe('1');

    own.freeze();
    // Each would wait for Redis as long as its connection lived: they are answered in process.
    await limiter.consume(client, 1);
    await limiter.consume(client, 1);
    expect(warnings).toEqual(['rate limits: Redis did not answer; each replica spends from its own budget until it does']);
    own.thaw();

    // A second after the failure, the budget is Redis' again (and the steady window has turned).
    await sleep(1100);
    await limiter.consume(client, 2);
    expect(await raw.get(steady)).toBe('2');
    expect(warnings).toHaveLength(1);
  });
});
