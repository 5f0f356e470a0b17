import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventIntake, type EventIntakeOptions } from '../../push/web/intake.ts';
import type { Signal } from '../../push/signals.ts';

const SECRET = 'intake-secret-0123456789';
/** Put in bodies to check that no answer and no log line ever repeats what a caller sent. */
const MARKER = 'do-not-echo-51ab';

interface Running {
  readonly url: string;
  readonly signals: Signal[];
  readonly logs: string[];
  close(): Promise<void>;
}

/** The intake alone on a free port, as the server mounts it (`/intake`), its signals and logs recorded. */
async function startIntake(options: Partial<EventIntakeOptions> = {}): Promise<Running> {
  const signals: Signal[] = [];
  const logs: string[] = [];
  const app = express();
  app.use(
    '/intake',
    eventIntake({
      secret: SECRET,
      emit: (signal) => signals.push(signal),
      logger: pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) }),
      clock: () => 1_790_000_000_000,
      ...options,
    }),
  );
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/intake/events`,
    signals,
    logs,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const basic = (user: string, password = '') => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const post = (url: string, body: unknown, authorization: string | null = basic(SECRET)) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization && { authorization }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

let nextMessage = 0;
const page = (overrides: Record<string, unknown> = {}) => ({
  type: 'page',
  messageId: `msg-${++nextMessage}`,
  anonymousId: 'browser-1',
  timestamp: '2026-11-01T12:00:00.000Z',
  properties: { path: `/${MARKER}` },
  ...overrides,
});

let intake: Running;
beforeAll(async () => {
  intake = await startIntake();
});
afterAll(async () => {
  await intake?.close();
});
beforeEach(() => {
  intake.signals.length = 0;
  intake.logs.length = 0;
});

describe('event intake', () => {
  it('answers 404 to everything when no secret is configured', async () => {
    const off = await startIntake({ secret: undefined });
    try {
      expect((await post(off.url, page())).status).toBe(404);
      expect((await post(off.url, page(), basic(''))).status).toBe(404);
      expect(off.signals).toEqual([]);
    } finally {
      await off.close();
    }
  });

  it('takes the secret as Basic user name (as Segment sends a write key), as Basic password, or as Bearer token', async () => {
    for (const authorization of [basic(SECRET), basic('rudder', SECRET), `Bearer ${SECRET}`, `bearer ${SECRET}`]) {
      const response = await post(intake.url, page(), authorization);
      expect(response.status).toBe(200);
    }
    expect(intake.signals).toHaveLength(4);
  });

  it('answers 401 to a wrong, missing or malformed credential, and signals nothing', async () => {
    for (const authorization of [basic('wrong-secret'), basic('', ''), `Bearer ${SECRET}x`, `Bearer`, SECRET, basic(SECRET.slice(0, -1)), null]) {
      const response = await post(intake.url, page(), authorization);
      expect(response.status).toBe(401);
      expect(await response.text()).not.toContain(SECRET);
    }
    expect(intake.signals).toEqual([]);
    expect(intake.logs.join('\n')).not.toContain(SECRET);
  });

  it('turns each event into one signal: kind the type, subject the user id and anonymous id, time the event timestamp', async () => {
    const response = await post(intake.url, page({ messageId: 'm-page', userId: '42', anonymousId: 'browser-42' }));
    expect(await response.json()).toEqual({ accepted: 1, duplicates: 0, refused: 0, ignored: 0 });
    expect(intake.signals).toEqual([
      {
        id: 'web:event:m-page',
        source: 'web',
        kind: 'page',
        subject: { customerId: '42', anonymousId: 'browser-42' },
        at: '2026-11-01T12:00:00.000Z',
        receivedAt: 1_790_000_000_000,
      },
    ]);
  });

  it("gives an identify's email to its subject, normalized, and never logs it or the traits", async () => {
    const identify = { type: 'identify', messageId: 'm-identify', userId: 7, anonymousId: 'browser-7', traits: { email: ' Seven@Example.com ', firstName: MARKER } };
    const track = { type: 'track', messageId: 'm-track', userId: '7', event: 'Product Viewed', traits: { email: 'not-for-tracks@example.com' } };
    expect((await post(intake.url, { batch: [identify, track] })).status).toBe(200);
    expect(intake.signals.map((signal) => [signal.kind, signal.subject])).toEqual([
      ['identify', { customerId: '7', anonymousId: 'browser-7', email: 'seven@example.com' }],
      ['track', { customerId: '7' }],
    ]);
    const logs = intake.logs.join('\n');
    expect(logs).toContain('"accepted":2');
    expect(logs).not.toMatch(/example\.com|seven|do-not-echo/i);
  });

  it('takes a batch and a bare array, ignoring types it does not signal', async () => {
    const response = await post(intake.url, {
      batch: [page(), page({ type: 'screen' }), page({ type: 'group', groupId: 'g1' }), page({ type: 'alias', userId: '9', previousId: 'browser-1' })],
    });
    expect(await response.json()).toEqual({ accepted: 3, duplicates: 0, refused: 0, ignored: 1 });
    expect((await post(intake.url, [page(), page()])).status).toBe(200);
    expect(intake.signals.map((signal) => signal.kind)).toEqual(['page', 'screen', 'alias', 'page', 'page']);
  });

  it('signals an event once however often its messageId comes, within a batch or across requests', async () => {
    const event = page({ messageId: 'm-repeated' });
    expect(await (await post(intake.url, { batch: [event, event] })).json()).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(await (await post(intake.url, event)).json()).toMatchObject({ accepted: 0, duplicates: 1 });
    expect(intake.signals.map((signal) => signal.id)).toEqual(['web:event:m-repeated']);
  });

  it('signals nothing for an event that refuses the analytics category, by Segment or RudderStack consent, whatever the id case', async () => {
    const refusedSegment = page({ context: { consent: { categoryPreferences: { C0002: false, C0004: true } } } });
    const refusedRudder = page({ context: { consentManagement: { deniedConsentIds: ['c0002'], allowedConsentIds: ['C0004'] } } });
    const granted = page({ messageId: 'm-granted', context: { consent: { categoryPreferences: { C0002: true, C0004: false } } } });
    const noConsent = page({ messageId: 'm-no-consent' });
    const response = await post(intake.url, { batch: [refusedSegment, refusedRudder, granted, noConsent] });
    expect(await response.json()).toEqual({ accepted: 2, duplicates: 0, refused: 2, ignored: 0 });
    expect(intake.signals.map((signal) => signal.id)).toEqual(['web:event:m-granted', 'web:event:m-no-consent']);
  });

  it('reads the configured analytics category, and checks no consent when none is configured', async () => {
    const refusesC0003 = () => page({ context: { consent: { categoryPreferences: { C0002: false, C0003: false } } } });
    const custom = await startIntake({ analyticsCategory: 'C0003' });
    const unchecked = await startIntake({ analyticsCategory: null });
    try {
      expect(await (await post(custom.url, refusesC0003())).json()).toMatchObject({ accepted: 0, refused: 1 });
      expect(await (await post(unchecked.url, refusesC0003())).json()).toMatchObject({ accepted: 1, refused: 0 });
    } finally {
      await custom.close();
      await unchecked.close();
    }
  });

  it.each([
    ['an event without messageId', page({ messageId: undefined }), 'the event has an invalid messageId'],
    ['an event without userId and anonymousId', page({ anonymousId: null, userId: undefined }), 'the event has an invalid userId (expected a userId or an anonymousId)'],
    ['an event whose userId is an object', page({ userId: { id: MARKER } }), 'the event has an invalid userId'],
    ['a batch with a bad third event', { batch: [page(), page(), page({ type: 7 })] }, 'event 2 has an invalid type'],
    ['a bare array with a bad consent', [page({ context: { consent: { categoryPreferences: MARKER } } })], 'event 0 has an invalid context.consent.categoryPreferences'],
    ['an empty batch', { batch: [] }, 'expected 1 to 1000 events'],
    ['a string', JSON.stringify(MARKER), 'expected a JSON event, a JSON array of events or {"batch": [...]}'],
    ['invalid JSON', `{"type": "page", "messageId": "${MARKER}"`, 'expected a JSON event, a JSON array of events or {"batch": [...]}'],
  ])('answers 400 to %s, naming the field without echoing the body', async (_name, body, error) => {
    const response = await post(intake.url, body);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error });
    expect(intake.signals).toEqual([]);
    expect(intake.logs.join('\n')).not.toContain(MARKER);
  });

  it('answers 400 to a whole batch when one event is invalid: nothing of it is signalled', async () => {
    const response = await post(intake.url, { batch: [page(), page({ messageId: '' })] });
    expect(await response.json()).toEqual({ error: 'event 1 has an invalid messageId' });
    expect(intake.signals).toEqual([]);
  });

  it('answers 413 to a body over 512 kB, and to more than 1000 events a 400', async () => {
    const big = await post(intake.url, page({ properties: { filler: 'x'.repeat(600 * 1024) } }));
    expect(big.status).toBe(413);
    const many = await post(intake.url, { batch: Array.from({ length: 1001 }, () => ({ type: 'page', messageId: 'm', anonymousId: 'a' })) });
    expect(await many.json()).toEqual({ error: 'expected 1 to 1000 events' });
    expect(intake.signals).toEqual([]);
  });
});
