import { createHmac } from 'node:crypto';

/**
 * The headers HubSpot sends with a v3-signed webhook delivery (POST of `body` to `url`): base64
 * HMAC-SHA256 of method, URL, body and timestamp with the app's client secret. What tests and
 * benchmarks send to /webhooks/hubspot as HubSpot would; server/webhooks.ts verifies it.
 */
export function hubspotDeliveryHeaders(clientSecret: string, url: string, body: string, timestampMs: number = Date.now()): Record<string, string> {
  const timestamp = String(timestampMs);
  const signature = createHmac('sha256', clientSecret).update(`POST${url}${body}${timestamp}`).digest('base64');
  return { 'content-type': 'application/json', 'x-hubspot-request-timestamp': timestamp, 'x-hubspot-signature-v3': signature };
}
