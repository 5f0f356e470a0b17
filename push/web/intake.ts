import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type ErrorRequestHandler, type RequestHandler, type Router } from 'express';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { z } from 'zod';
import { normalizeEmail } from '../../cache/loaders.ts';
import { consentColumnOf, DEFAULT_CONSENT_CATEGORIES } from '../../sources/web/index.ts';
import type { Signal, SignalSink } from '../signals.ts';

/** The calls that say something about a person's browsing; other types (group, ...) are ignored. */
const KINDS = new Set(['page', 'track', 'identify', 'screen', 'alias']);
/** Segment's batch call allows 500 KB; one event is at most 32 KB. */
const BODY_LIMIT = '512kb';
const MAX_EVENTS = 1000;
/** Forwarders retry for hours (Segment up to 4 h); a retry within this time is answered, not signalled again. */
const DEDUPE_TTL_MS = 4 * 60 * 60_000;
const DEDUPE_MAX = 100_000;

export interface EventIntakeOptions {
  /** EVENT_INTAKE_SECRET: what forwarders authenticate with. Without it the endpoint is off (404). */
  readonly secret?: string;
  readonly emit: SignalSink;
  readonly logger: Logger;
  /**
   * The CMP's analytics category id (WEB_CONSENT_ANALYTICS_CATEGORY), as the web source reads it;
   * null: consent is not checked. OneTrust's C0002 by default.
   */
  readonly analyticsCategory?: string | null;
  /** Epoch ms, for the signals' `receivedAt` (tests may fix it). */
  readonly clock?: () => number;
}

const id = z.string().trim().min(1).max(200);
/** Segment's ids are strings; some libraries send a numeric user id. */
const personId = z.union([id, z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).transform(String)]).nullish();
const withEmail = z.looseObject({ email: z.unknown().optional() }).nullish();
/** A Segment/RudderStack event, as far as it is read: the person, the id, the time, consent and an identify's email. */
const event = z
  .looseObject({
    type: z.string().min(1).max(50),
    messageId: id,
    userId: personId,
    anonymousId: personId,
    timestamp: z.unknown().optional(),
    traits: withEmail,
    context: z
      .looseObject({
        traits: withEmail,
        consent: z.looseObject({ categoryPreferences: z.record(z.string(), z.unknown()).nullish() }).nullish(),
        consentManagement: z.looseObject({ deniedConsentIds: z.array(z.unknown()).max(200).nullish() }).nullish(),
      })
      .nullish(),
  })
  .refine((e) => e.userId != null || e.anonymousId != null, { path: ['userId'], message: 'expected a userId or an anonymousId' });
const batch = z.array(event).min(1).max(MAX_EVENTS);
type IntakeEvent = z.infer<typeof event>;

/**
 * `POST /events` (mount at `/intake`): page, track, identify, screen and alias calls forwarded by
 * Segment's or RudderStack's webhook destinations, each turned into one web Signal (kind: the
 * event's type; subject: userId as the shop's customer id and/or anonymousId, and an identify's
 * traits.email) so a profile changes before the warehouse loads the event. Nothing is stored and
 * nothing of an event is logged but counts.
 *
 * Authenticated before the body is read, by `Authorization: Basic base64(<secret>:)` (the secret
 * as user name, as Segment's HTTP API sends its write key; as password also accepted) or `Bearer
 * <secret>`, compared in constant time: 401 otherwise, 404 when no secret is configured. The body
 * is limited to 512 kB and 1000 events and validated as a whole (400 naming the event and field,
 * never a value); types other than the five are ignored. An event whose messageId was taken in
 * within 4 hours (this process) is answered but not signalled again, and so is an event that
 * refuses the analytics category: `context.consent.categoryPreferences.<id>` false (Segment) or
 * the id in `context.consentManagement.deniedConsentIds` (RudderStack), ids matched as the
 * warehouse columns name them (C0002 = c0002). Answers 200 with the counts.
 */
export function eventIntake(options: EventIntakeOptions): Router {
  const router = express.Router();
  const { logger } = options;
  const clock = options.clock ?? Date.now;
  const category = options.analyticsCategory === undefined ? DEFAULT_CONSENT_CATEGORIES.analytics : options.analyticsCategory;
  const analyticsColumn = category === null ? null : consentColumnOf(category);
  const seen = new LRUCache<string, true>({ max: DEDUPE_MAX, ttl: DEDUPE_TTL_MS });
  const secretDigest = options.secret ? digest(options.secret) : null;

  const gate: RequestHandler = (req, res, next) => {
    if (!secretDigest) return void res.set('connection', 'close').sendStatus(404);
    if (!authorized(req.get('authorization'), secretDigest)) {
      logger.warn({ intake: 'events', outcome: 'unauthorized' }, 'event intake refused a request');
      return void res.set('connection', 'close').set('www-authenticate', 'Basic realm="event intake"').status(401).json({ error: 'expected the intake secret (Basic or Bearer)' });
    }
    next();
  };

  router.post('/events', gate, express.json({ limit: BODY_LIMIT, type: () => true }), (req, res) => {
    const events = eventsOf(req.body);
    if (typeof events === 'string') {
      logger.warn({ intake: 'events', outcome: 'invalid' }, 'event intake refused a request');
      return void res.status(400).json({ error: events });
    }
    const counts = { accepted: 0, duplicates: 0, refused: 0, ignored: 0 };
    const receivedAt = clock();
    for (const e of events) {
      if (!KINDS.has(e.type)) counts.ignored++;
      else if (analyticsColumn !== null && refusesAnalytics(e, analyticsColumn)) counts.refused++;
      else if (seen.has(e.messageId)) counts.duplicates++;
      else {
        seen.set(e.messageId, true);
        options.emit(signalOf(e, receivedAt));
        counts.accepted++;
      }
    }
    logger.debug({ intake: 'events', events: events.length, ...counts }, 'event intake handled a request');
    res.json(counts);
  });

  // Body-parser failures (too large, not JSON): a short answer, never the body or the parser's text.
  const failures: ErrorRequestHandler = (error: { type?: string; status?: number }, _req, res, next) => {
    if (res.headersSent) return next(error);
    const tooLarge = error?.type === 'entity.too.large';
    const status = tooLarge ? 413 : typeof error?.status === 'number' && error.status >= 400 && error.status < 500 ? 400 : 500;
    logger.warn({ intake: 'events', outcome: tooLarge ? 'too_large' : status === 400 ? 'invalid' : 'failed' }, 'event intake refused a request');
    if (tooLarge) res.set('connection', 'close');
    res
      .status(status)
      .json({ error: tooLarge ? 'request body too large' : status === 400 ? 'expected a JSON event, a JSON array of events or {"batch": [...]}' : 'could not take the events in' });
  };
  router.use('/events', failures);
  return router;
}

function signalOf(e: IntakeEvent, receivedAt: number): Signal {
  const email = e.type === 'identify' ? emailOf(e.traits?.email ?? e.context?.traits?.email) : undefined;
  const subject = {
    ...(e.userId != null && { customerId: e.userId }),
    ...(e.anonymousId != null && { anonymousId: e.anonymousId }),
    ...(email !== undefined && { email }),
  };
  const at = typeof e.timestamp === 'string' && e.timestamp.length <= 64 ? new Date(e.timestamp) : null;
  return {
    id: `web:event:${e.messageId}`,
    source: 'web',
    kind: e.type,
    subject,
    ...(at && !Number.isNaN(at.getTime()) && { at: at.toISOString() }),
    receivedAt,
  };
}

function emailOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= 320 && value.includes('@') ? normalizeEmail(value) : undefined;
}

/** True when the event refuses the analytics category (whose warehouse column is `column`). */
function refusesAnalytics(e: IntakeEvent, column: string): boolean {
  const preferences = e.context?.consent?.categoryPreferences ?? {};
  if (Object.entries(preferences).some(([categoryId, granted]) => granted === false && columnOf(categoryId) === column)) return true;
  return (e.context?.consentManagement?.deniedConsentIds ?? []).some((categoryId) => typeof categoryId === 'string' && columnOf(categoryId) === column);
}

function columnOf(categoryId: string): string | null {
  try {
    return consentColumnOf(categoryId);
  } catch {
    return null;
  }
}

/**
 * The events of a body: one event, `{ "batch": [...] }` (Segment's batch call) or a bare array (a
 * batching webhook destination); or what is wrong with it, naming the event and field only (safe
 * to send back).
 */
function eventsOf(input: unknown): IntakeEvent[] | string {
  const list = Array.isArray(input) ? input : typeof input === 'object' && input !== null && 'batch' in input ? input.batch : undefined;
  if (list === undefined) {
    const one = event.safeParse(input);
    if (one.success) return [one.data];
    const issue = one.error.issues[0];
    const path = issue?.path ?? [];
    return path.length === 0 ? 'expected a JSON event, a JSON array of events or {"batch": [...]}' : `the event has an invalid ${fieldOf(path)}${ruleOf(issue)}`;
  }
  const many = batch.safeParse(list);
  if (many.success) return many.data;
  const issue = many.error.issues[0];
  const [position, ...field] = issue?.path ?? [];
  return typeof position === 'number' ? `event ${position} has an invalid ${fieldOf(field)}${ruleOf(issue)}` : `expected 1 to ${MAX_EVENTS} events`;
}

/** Our own rules' words (the refinements' messages name no value); zod's own messages may quote input, so they are left out. */
function ruleOf(issue: z.core.$ZodIssue | undefined): string {
  return issue?.code === 'custom' ? ` (${issue.message})` : '';
}

function fieldOf(path: readonly PropertyKey[]): string {
  return path.length === 0 ? 'shape' : path.map(String).join('.').slice(0, 100);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Basic with the secret as user name or password, or Bearer with the secret; compared as digests, in constant time. */
function authorized(header: string | undefined, secret: Buffer): boolean {
  const match = /^(basic|bearer) +([^\s]+) *$/i.exec(header ?? '');
  if (!match) return false;
  const [, scheme, credentials] = match as unknown as [string, string, string];
  const candidates: string[] = [];
  if (scheme.toLowerCase() === 'bearer') candidates.push(credentials);
  else {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) candidates.push(decoded);
    else candidates.push(decoded.slice(0, colon), decoded.slice(colon + 1));
  }
  // Every candidate is compared, so the time taken does not say which half matched.
  return candidates.map((candidate) => candidate.length > 0 && timingSafeEqual(digest(candidate), secret)).reduce((a, b) => a || b, false);
}
