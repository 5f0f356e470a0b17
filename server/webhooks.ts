import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { type Request, type Router } from 'express';
import type { Logger } from 'pino';
import type { Invalidator } from '../cache/invalidation.ts';

const FIVE_MINUTES_MS = 5 * 60_000;
const MAILCHIMP_MEMBER_EVENTS = new Set(['subscribe', 'unsubscribe', 'profile', 'cleaned', 'upemail']);

export interface WebhookOptions {
  readonly invalidator: Invalidator;
  readonly logger: Logger;
  /** HubSpot app client secret: signs v3 webhook requests. Without it the endpoint is off (404). */
  readonly hubspotClientSecret?: string;
  /** The secret path segment of the Mailchimp webhook URL. Without it the endpoint is off (404). */
  readonly mailchimpSecret?: string;
  /** This server's public origin as HubSpot calls it (the signature covers the full URL). */
  readonly publicUrl?: string;
}

/**
 * Cache invalidation pushed by the sources: `POST /webhooks/hubspot` (signature v3) and
 * `GET|POST /webhooks/mailchimp/:secret`. A request that fails verification changes nothing.
 */
export function webhooks(options: WebhookOptions): Router {
  const router = express.Router();
  const { invalidator, logger } = options;

  router.post('/hubspot', express.raw({ type: () => true, limit: '1mb' }), async (req, res) => {
    if (!options.hubspotClientSecret) return void res.sendStatus(404);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!validHubSpotSignature(req, body, options.hubspotClientSecret, options.publicUrl)) {
      logger.warn({ webhook: 'hubspot' }, 'webhook signature rejected');
      return void res.sendStatus(401);
    }
    let events: unknown;
    try {
      events = JSON.parse(body.toString('utf8'));
    } catch {
      return void res.status(400).json({ error: 'expected a JSON array of events' });
    }
    if (!Array.isArray(events)) return void res.status(400).json({ error: 'expected a JSON array of events' });
    const contactIds = events
      .filter((event) => typeof event?.subscriptionType === 'string' && event.subscriptionType.startsWith('contact.'))
      .map((event) => String(event.objectId))
      .filter((id) => /^\d{1,18}$/.test(id));
    await invalidator.contactsChanged([...new Set(contactIds)]);
    logger.info({ webhook: 'hubspot', events: events.length, contacts: contactIds.length }, 'webhook applied');
    res.sendStatus(204);
  });

  // Mailchimp validates the URL with a GET before it sends anything.
  router.get('/mailchimp/:secret', (req, res) => {
    res.sendStatus(sameSecret(req.params.secret, options.mailchimpSecret) ? 200 : 404);
  });
  router.post('/mailchimp/:secret', express.urlencoded({ extended: true, limit: '256kb' }), async (req, res) => {
    if (!sameSecret(req.params.secret, options.mailchimpSecret)) return void res.sendStatus(404);
    const { type, data } = (req.body ?? {}) as { type?: string; data?: Record<string, unknown> };
    if (type && MAILCHIMP_MEMBER_EVENTS.has(type) && data) {
      const emails = [data.email, data.old_email, data.new_email].filter((email): email is string => typeof email === 'string' && email.length > 0);
      await invalidator.membersChanged(emails);
      logger.info({ webhook: 'mailchimp', type, members: emails.length }, 'webhook applied');
    }
    res.sendStatus(200);
  });
  return router;
}

/**
 * HubSpot signature v3: base64 HMAC-SHA256 of method + URI + body + timestamp, with the app's
 * client secret, compared in constant time; requests older than five minutes are refused.
 */
export function validHubSpotSignature(req: Request, body: Buffer, secret: string, publicUrl?: string): boolean {
  const timestamp = req.get('x-hubspot-request-timestamp') ?? '';
  const signature = req.get('x-hubspot-signature-v3') ?? '';
  const age = Date.now() - Number(timestamp);
  if (!/^\d{13}$/.test(timestamp) || !(age >= -FIVE_MINUTES_MS && age <= FIVE_MINUTES_MS)) return false;
  const uri = `${publicUrl ?? `${req.protocol}://${req.get('host')}`}${req.originalUrl}`;
  const expected = createHmac('sha256', secret).update(`${req.method}${uri}${body.toString('utf8')}${timestamp}`).digest();
  const given = Buffer.from(signature, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function sameSecret(given: string | undefined, expected: string | undefined): boolean {
  if (!given || !expected) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
