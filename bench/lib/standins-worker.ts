/**
 * The HubSpot and Mailchimp stand-ins, in a worker thread (see workers.ts): started at set
 * latencies, with their counters and knobs reachable from the benchmark through calls.
 */
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { startHubSpotStandIn, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import { startMailchimpStandIn, type MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { ACCESS_TOKEN, API_KEY, LIST_ID } from './credentials.ts';
import { serveCalls } from './workers.ts';

export interface StandInCounts {
  /** HubSpot requests received (every endpoint). */
  readonly hubspot: number;
  /** Mailchimp requests received (every endpoint), and the most in flight at once. */
  readonly mailchimp: number;
  readonly mailchimpPeakInFlight: number;
  /** 429 answers: Mailchimp's connection limit, HubSpot's rate limit (off here). */
  readonly mailchimp429: number;
  readonly hubspot429: number;
}

export interface Knobs {
  readonly hubspotMs?: number;
  readonly mailchimpMs?: number;
  readonly hubspotHang?: boolean;
  readonly mailchimpHang?: boolean;
}

let hubspot: HubSpotStandIn | undefined;
let mailchimp: MailchimpStandIn | undefined;

serveCalls({
  async start({ world, hubspotMs, mailchimpMs }: { world: DemoWorld; hubspotMs: number; mailchimpMs: number }) {
    // No rate limits: the benchmark measures latency and call counts, not the vendors' quotas.
    hubspot = await startHubSpotStandIn({ world, accessToken: ACCESS_TOKEN, rateLimit: null });
    hubspot.latency = { fixedMs: hubspotMs, jitterMs: 0 };
    mailchimp = await startMailchimpStandIn({ world, apiKey: API_KEY, listId: LIST_ID, knobs: { latencyMs: mailchimpMs } });
    return { hubspotUrl: hubspot.url, mailchimpUrl: mailchimp.url };
  },
  counts(): StandInCounts {
    const mc = mailchimp!.stats;
    return {
      hubspot: hubspot!.stats.total,
      mailchimp: mc.requests,
      mailchimpPeakInFlight: mc.peakInFlight,
      mailchimp429: mc.byStatus[429] ?? 0,
      hubspot429: hubspot!.stats.byStatus[429] ?? 0,
    };
  },
  reset() {
    hubspot!.stats.reset();
    mailchimp!.resetStats();
  },
  knobs(knobs: Knobs) {
    if (knobs.hubspotMs !== undefined) hubspot!.latency = { fixedMs: knobs.hubspotMs, jitterMs: 0 };
    if (knobs.mailchimpMs !== undefined) mailchimp!.knobs.latencyMs = knobs.mailchimpMs;
    if (knobs.hubspotHang !== undefined) hubspot!.hang = knobs.hubspotHang;
    if (knobs.mailchimpHang !== undefined) mailchimp!.knobs.hang = knobs.mailchimpHang;
  },
  /**
   * Builds the Mailchimp stand-in's subscriber index for the whole world (asking for a member
   * nobody is), so a large world's first lookups do not pay for it during a measurement.
   */
  async warm() {
    const latency = mailchimp!.knobs.latencyMs;
    mailchimp!.knobs.latencyMs = 0;
    const auth = `Basic ${Buffer.from(`bench:${API_KEY}`).toString('base64')}`;
    const response = await fetch(`${mailchimp!.url}/3.0/lists/${LIST_ID}/members/${'0'.repeat(32)}`, { headers: { authorization: auth } });
    await response.arrayBuffer();
    mailchimp!.knobs.latencyMs = latency;
    return response.status;
  },
  async close() {
    await Promise.all([hubspot?.close(), mailchimp?.close()]);
  },
});
