import { createHash, createHmac } from 'node:crypto';

/**
 * The headers of one signed delivery (Standard Webhooks): `webhook-id`, `webhook-timestamp` (unix
 * seconds) and `webhook-signature` `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with
 * the base64 part of the `whsec_` secret.
 */
export function signatureHeaders(secret: string, webhookId: string, timestampSeconds: number, body: string): Record<string, string> {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signature = createHmac('sha256', key).update(`${webhookId}.${timestampSeconds}.${body}`).digest('base64');
  return { 'webhook-id': webhookId, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': `v1,${signature}` };
}

/**
 * The idempotency key of delivering one trigger event to one endpoint: the same on every replica,
 * attempt and replay, so a receiver can drop repeats. `msg_` + 32 hex characters of a SHA-256.
 */
export function webhookIdOf(eventId: string, endpointId: string): string {
  return `msg_${createHash('sha256').update(`${eventId}\n${endpointId}`).digest('hex').slice(0, 32)}`;
}
