import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, type Router } from 'express';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Invalidator } from '../cache/invalidation.ts';
import { normalizeEmail } from '../cache/loaders.ts';
import type { Signal, SignalSink } from '../push/signals.ts';

/** HubSpot refuses nothing older; we remember deliveries for as long as a replay could be valid. */
const FIVE_MINUTES_MS = 5 * 60_000;
/** Deliveries and events remembered per webhook; a bound, not a guarantee past HubSpot's own rate. */
const REMEMBERED = 10_000;
/**
 * HubSpot sends at most 100 events per request (a few hundred bytes each, more with a long
 * propertyValue); the body must be read to check its signature, so the limit is what an
 * unauthenticated caller can make us read.
 */
const HUBSPOT_BODY_LIMIT = '256kb';
/** One Mailchimp event is a handful of form fields. */
const MAILCHIMP_BODY_LIMIT = '16kb';
const MAILCHIMP_MEMBER_EVENTS = new Set(['subscribe', 'unsubscribe', 'profile', 'cleaned', 'upemail']);
/** Contact events about one contact, named by `objectId`: it must be there. */
const CONTACT_OBJECT_EVENTS = new Set(['contact.creation', 'contact.deletion', 'contact.propertyChange', 'contact.restore', 'contact.privacyDeletion', 'contact.merge']);

export type WebhookName = 'hubspot' | 'mailchimp';

/**
 * What came of one delivery: `applied` (evictions done), `ignored` (nothing for us in it),
 * `duplicate` (a replay or a retry of what was applied within five minutes: answered 2xx, not
 * applied again), or why it was refused.
 */
export type DeliveryOutcome = 'applied' | 'ignored' | 'duplicate' | 'unauthorized' | 'invalid' | 'too_large' | 'failed';

export interface WebhookOptions {
  readonly invalidator: Invalidator;
  readonly logger: Logger;
  /** HubSpot app client secret: signs v3 webhook requests. Without it the endpoint is off (404). */
  readonly hubspotClientSecret?: string;
  /** The secret path segment of the Mailchimp webhook URL. Without it the endpoint is off (404). */
  readonly mailchimpSecret?: string;
  /** This server's public origin as HubSpot calls it (the signature covers the full URL). */
  readonly publicUrl?: string;
  /** Told of each delivery's outcome once (metrics); never of its content. */
  readonly onDelivery?: (webhook: WebhookName, outcome: DeliveryOutcome) => void;
  /**
   * Told of every applied event, after its eviction, as push signals (docs/push-web.md): a HubSpot
   * event as one `crm` signal per contact it names (kind: its subscriptionType), a Mailchimp member
   * event as one `email` signal per address (kind: its type). Not told of ignored or repeated events.
   */
  readonly onSignal?: SignalSink;
}

const objectId = z.number().int().positive();
/**
 * HubSpot's v3 event, as far as we read it. Unknown subscription types pass (and are ignored);
 * an id, when present, must be a positive safe integer whatever the type.
 */
const hubspotEvent = z
  .looseObject({
    eventId: z.number().int().nonnegative(),
    subscriptionType: z.string().min(1).max(200),
    objectId: objectId.optional(),
    occurredAt: z.number().int().nonnegative().optional(),
    portalId: z.number().int().nonnegative().optional(),
    propertyName: z.string().max(500).optional(),
    fromObjectId: objectId.optional(),
    toObjectId: objectId.optional(),
    associationType: z.string().max(200).optional(),
    primaryObjectId: objectId.optional(),
    newObjectId: objectId.optional(),
    mergedObjectIds: z.array(objectId).max(100).optional(),
  })
  .refine((event) => !CONTACT_OBJECT_EVENTS.has(event.subscriptionType) || event.objectId !== undefined, {
    path: ['objectId'],
    message: 'required',
  });
const hubspotEvents = z.array(hubspotEvent).max(1000);
type HubSpotEvent = z.infer<typeof hubspotEvent>;

const email = z.string().max(320);
/** A Mailchimp event after form decoding (`data[email]` becomes `data.email`). */
const mailchimpEvent = z.looseObject({
  type: z.string().min(1).max(50),
  fired_at: z.string().max(50).optional(),
  data: z.looseObject({ email: email.optional(), old_email: email.optional(), new_email: email.optional() }).optional(),
});

/**
 * Cache invalidation pushed by the sources: `POST /webhooks/hubspot` (signature v3) and
 * `GET|POST /webhooks/mailchimp/:secret`. Credentials are checked before the body is read (the
 * Mailchimp secret, HubSpot's signature headers and timestamp window), bodies are size-limited,
 * events are validated (a bad shape is a 400 naming the field, never echoing the body), and a
 * delivery or event seen within five minutes is answered but not applied again. A request that
 * fails verification changes nothing; nothing a handler throws escapes as an unhandled rejection.
 *
 * Deduplication is in-process: with several replicas, a replay that reaches another replica is
 * applied there once more (an eviction, which costs one upstream read, never wrong data).
 */
export function webhooks(options: WebhookOptions): Router {
  const router = express.Router();
  const { invalidator, logger } = options;
  const seen: Record<WebhookName, LRUCache<string, true>> = {
    hubspot: new LRUCache({ max: REMEMBERED, ttl: FIVE_MINUTES_MS }),
    mailchimp: new LRUCache({ max: REMEMBERED, ttl: FIVE_MINUTES_MS }),
  };
  const done = (webhook: WebhookName, outcome: DeliveryOutcome) => options.onDelivery?.(webhook, outcome);
  const refuse = (res: Response, webhook: WebhookName, status: number, outcome: DeliveryOutcome, reason: string) => {
    logger.warn({ webhook, outcome, reason }, 'webhook rejected');
    done(webhook, outcome);
    res.status(status).json({ error: reason });
  };

  // Before the body: an off endpoint, missing or stale signature headers are refused unread, and
  // the connection closed so the rest of the body is not waited for.
  const hubspotGate: RequestHandler = (req, res, next) => {
    if (!options.hubspotClientSecret) return void res.set('connection', 'close').sendStatus(404);
    if (!freshSignatureHeaders(req)) {
      return refuse(res.set('connection', 'close'), 'hubspot', 401, 'unauthorized', 'expected a signature v3 and a timestamp within five minutes');
    }
    next();
  };

  router.post('/hubspot', hubspotGate, express.raw({ type: () => true, limit: HUBSPOT_BODY_LIMIT }), async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!validHubSpotSignature(req, body, options.hubspotClientSecret!, options.publicUrl)) {
      return refuse(res, 'hubspot', 401, 'unauthorized', 'signature does not match');
    }
    // HubSpot never sends the same signed request twice (a retry has a new timestamp): this is a replay.
    const delivery = `delivery:${req.get('x-hubspot-request-timestamp')}:${req.get('x-hubspot-signature-v3')}`;
    if (seen.hubspot.has(delivery)) return duplicate(res, 'hubspot', 204);
    const events = parseHubSpotEvents(body);
    if (typeof events === 'string') return refuse(res, 'hubspot', 400, 'invalid', events);
    // eventId alone is not guaranteed unique (HubSpot's docs): an event is its id with what it is about.
    const fresh = [...new Map(events.filter((event) => !seen.hubspot.has(eventKey(event))).map((event) => [eventKey(event), event])).values()];
    const contactIds = [...new Set(fresh.flatMap(contactIdsOf))];
    const claimed = [delivery, ...fresh.map(eventKey)];
    // Claimed before the eviction, so a concurrent replay is not applied twice; released if it fails.
    for (const key of claimed) seen.hubspot.set(key, true);
    try {
      await invalidator.contactsChanged(contactIds);
    } catch (error) {
      for (const key of claimed) seen.hubspot.delete(key);
      throw error;
    }
    const receivedAt = Date.now();
    const ignored: Record<string, string> = {};
    for (const event of fresh) {
      const contacts = contactIdsOf(event);
      if (contacts.length === 0) ignored[event.subscriptionType] = ignoreReason(event);
      for (const contactId of contacts) {
        options.onSignal?.({
          id: `crm:hubspot:${eventKey(event)}:${contactId}`,
          source: 'crm',
          kind: event.subscriptionType,
          subject: { contactId },
          ...(event.occurredAt !== undefined && { at: new Date(event.occurredAt).toISOString() }),
          receivedAt,
        });
      }
    }
    const outcome = contactIds.length > 0 ? 'applied' : fresh.length < events.length ? 'duplicate' : 'ignored';
    // Subscription types and reasons only: never a value of an event.
    logger.info({ webhook: 'hubspot', outcome, events: events.length, repeated: events.length - fresh.length, contacts: contactIds.length, ignored }, 'webhook handled');
    done('hubspot', outcome);
    res.sendStatus(204);
  });

  // Mailchimp validates the URL with a GET before it sends anything.
  router.get('/mailchimp/:secret', (req, res) => {
    res.sendStatus(sameSecret(req.params.secret, options.mailchimpSecret) ? 200 : 404);
  });
  const mailchimpGate: RequestHandler<{ secret: string }> = (req, res, next) => {
    if (sameSecret(req.params.secret, options.mailchimpSecret)) return next();
    // Not counted or logged as a delivery when the endpoint is off: that is any scanner's 404.
    if (options.mailchimpSecret) {
      logger.warn({ webhook: 'mailchimp', outcome: 'unauthorized' }, 'webhook rejected');
      done('mailchimp', 'unauthorized');
    }
    res.set('connection', 'close').sendStatus(404);
  };
  router.post('/mailchimp/:secret', mailchimpGate, express.urlencoded({ extended: true, limit: MAILCHIMP_BODY_LIMIT, parameterLimit: 200 }), async (req, res) => {
    const parsed = mailchimpEvent.safeParse(req.body ?? {});
    if (!parsed.success) return refuse(res, 'mailchimp', 400, 'invalid', `expected a Mailchimp event form; invalid ${fieldOf(parsed.error.issues[0]?.path ?? [])}`);
    const { type, fired_at: firedAt, data } = parsed.data;
    if (!MAILCHIMP_MEMBER_EVENTS.has(type) || !data) {
      done('mailchimp', 'ignored');
      return void res.sendStatus(200);
    }
    // Mailchimp events carry no id: the event is its type, time and data (a retry repeats all three).
    const key = createHash('sha256')
      .update(JSON.stringify([type, firedAt ?? '', data]))
      .digest('base64url');
    if (seen.mailchimp.has(key)) return duplicate(res, 'mailchimp', 200);
    const emails = [data.email, data.old_email, data.new_email].filter((value): value is string => typeof value === 'string' && value.includes('@'));
    const receivedAt = Date.now();
    seen.mailchimp.set(key, true);
    try {
      await invalidator.membersChanged(emails);
    } catch (error) {
      seen.mailchimp.delete(key);
      throw error;
    }
    // The address stays out of the id (ids reach logs); the event key is a hash.
    emails.forEach((address, index) => options.onSignal?.(mailchimpSignal(`email:mailchimp:${key}:${index}`, type, address, receivedAt)));
    logger.info({ webhook: 'mailchimp', outcome: 'applied', type, members: emails.length }, 'webhook handled');
    done('mailchimp', 'applied');
    res.sendStatus(200);
  });

  function duplicate(res: Response, webhook: WebhookName, status: number): void {
    logger.info({ webhook, outcome: 'duplicate' }, 'webhook handled');
    done(webhook, 'duplicate');
    res.sendStatus(status);
  }

  // Body-parser failures (too large, aborted, bad encoding) and anything a handler threw: a short
  // answer, never the body or the error's text.
  const failures: ErrorRequestHandler = (error: { type?: string; status?: number }, req, res, next) => {
    if (res.headersSent) return next(error);
    const webhook: WebhookName = req.path.startsWith('/hubspot') ? 'hubspot' : 'mailchimp';
    if (error?.type === 'entity.too.large') return refuse(res.set('connection', 'close'), webhook, 413, 'too_large', 'request body too large');
    const status = typeof error?.status === 'number' && error.status >= 400 && error.status < 500 ? error.status : 500;
    if (status < 500) return refuse(res, webhook, status, 'invalid', 'could not read the request body');
    logger.error({ webhook, err: error }, 'webhook failed');
    done(webhook, 'failed');
    res.status(500).json({ error: 'could not apply the webhook' });
  };
  router.use(failures);
  return router;
}

/** The events, or what is wrong with them (safe to send: names a position and a field, not a value). */
function parseHubSpotEvents(body: Buffer): HubSpotEvent[] | string {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return 'expected a JSON array of events, got invalid JSON';
  }
  const parsed = hubspotEvents.safeParse(json);
  if (parsed.success) return parsed.data;
  const path = parsed.error.issues[0]?.path ?? [];
  if (path.length === 0) return 'expected a JSON array of at most 1000 events';
  return `expected a JSON array of events; event ${String(path[0])} has an invalid ${fieldOf(path.slice(1))}`;
}

function fieldOf(path: readonly PropertyKey[]): string {
  return path.length === 0 ? 'shape' : path.map(String).join('.').slice(0, 100);
}

function eventKey(event: HubSpotEvent): string {
  return `event:${event.portalId ?? ''}:${event.eventId}:${event.subscriptionType}:${event.objectId ?? ''}:${event.occurredAt ?? ''}:${event.propertyName ?? ''}`;
}

/**
 * The contacts an event is about: a contact event's object (a merge's every contact: the merged
 * ones, the primary and the new); an association change's contact side (named by associationType,
 * `CONTACT_TO_COMPANY` or `DEAL_TO_CONTACT`, whichever object type subscribed; a contact
 * subscription without one starts from the contact). Other objects' events name no contact.
 */
function contactIdsOf(event: HubSpotEvent): string[] {
  const [objectType, change] = event.subscriptionType.split('.', 2) as [string, string | undefined];
  if (change === 'associationChange') {
    const [from, to] = event.associationType?.split('_TO_') ?? [];
    const id = from?.startsWith('CONTACT')
      ? event.fromObjectId
      : to?.startsWith('CONTACT')
        ? event.toObjectId
        : objectType === 'contact' && from === undefined
          ? event.fromObjectId
          : undefined;
    return id === undefined ? [] : [String(id)];
  }
  if (objectType !== 'contact') return [];
  const ids = event.subscriptionType === 'contact.merge' ? [event.objectId, event.primaryObjectId, event.newObjectId, ...(event.mergedObjectIds ?? [])] : [event.objectId];
  return [...new Set(ids.filter((id) => id !== undefined).map(String))];
}

/** Why an event named no contact, for the log. */
function ignoreReason(event: HubSpotEvent): string {
  if (event.subscriptionType.endsWith('.associationChange')) return 'the association has no contact side';
  return event.subscriptionType.startsWith('contact.') ? 'no contact id' : 'not about a contact';
}

function mailchimpSignal(id: string, kind: string, email: string, receivedAt: number): Signal {
  // fired_at has no time zone (Mailchimp does not say which): the signal carries no `at`.
  return { id, source: 'email', kind, subject: { email: normalizeEmail(email) }, receivedAt };
}

/** Header checks that need no body: a 13-digit timestamp within five minutes, a signature of HMAC-SHA256 length. */
function freshSignatureHeaders(req: Request): boolean {
  const timestamp = req.get('x-hubspot-request-timestamp') ?? '';
  const signature = req.get('x-hubspot-signature-v3') ?? '';
  const age = Date.now() - Number(timestamp);
  return /^\d{13}$/.test(timestamp) && age >= -FIVE_MINUTES_MS && age <= FIVE_MINUTES_MS && /^[A-Za-z0-9+/]{43}=$/.test(signature);
}

/**
 * HubSpot signature v3: base64 HMAC-SHA256 of method + URI + body + timestamp, with the app's
 * client secret, compared in constant time; requests older than five minutes are refused.
 */
export function validHubSpotSignature(req: Request, body: Buffer, secret: string, publicUrl?: string): boolean {
  if (!freshSignatureHeaders(req)) return false;
  const timestamp = req.get('x-hubspot-request-timestamp')!;
  const signature = req.get('x-hubspot-signature-v3')!;
  const uri = `${publicUrl ?? `${req.protocol}://${req.get('host')}`}${req.originalUrl}`;
  const expected = createHmac('sha256', secret)
    .update(`${req.method}${uri}${body.toString('utf8')}${timestamp}`)
    .digest();
  const given = Buffer.from(signature, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function sameSecret(given: string | undefined, expected: string | undefined): boolean {
  if (!given || !expected) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
