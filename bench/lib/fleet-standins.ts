/**
 * The stand-ins of the fleet benchmark, in a worker thread (see workers.ts): HubSpot enforcing its
 * default TEN_SECONDLY_ROLLING limit (100 per 10 s, the limit a real app meets) and Mailchimp with
 * its default 10-connection limit, unlike standins-worker.ts, whose stand-ins turn the limits off.
 * It also keeps a time line of HubSpot's requests, so a run can say how many reached HubSpot in its
 * busiest rolling 10 s.
 */
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { ENDPOINTS, startHubSpotStandIn, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import { startMailchimpStandIn, type MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { API_KEY, LIST_ID } from './credentials.ts';
import { serveCalls } from './workers.ts';

/** HubSpot counts its limit over any 10 s. */
export const HUBSPOT_WINDOW_MS = 10_000;
/** How often the time line samples the request count: a call is dated at most this much late. */
const SAMPLE_MS = 20;

/** What the stand-ins served since the last reset. */
export interface FleetStandInCounts {
  readonly hubspot: number;
  /** HubSpot's 429 answers (its rolling limit), and Mailchimp's (its connection limit). */
  readonly hubspot429: number;
  readonly mailchimp: number;
  readonly mailchimp429: number;
  readonly mailchimpPeakInFlight: number;
  /** Contacts per batch-read call, one entry a call (the last 1,000 calls). */
  readonly contactsPerCall: number[];
  /** The most HubSpot requests in any rolling 10 s (each dated when sampled, at most SAMPLE_MS late). */
  readonly peakPerWindow: number;
}

let hubspot: HubSpotStandIn | undefined;
let mailchimp: MailchimpStandIn | undefined;
/** When the HubSpot request count grew, and by how much: the rolling windows are summed from it. */
let timeline: Array<{ at: number; calls: number }> = [];
let lastTotal = 0;
let sampler: NodeJS.Timeout | undefined;

/** The most requests whose (sampled) times fall within any `HUBSPOT_WINDOW_MS`. */
function peakPerWindow(): number {
  let peak = 0;
  let inWindow = 0;
  let first = 0;
  for (const sample of timeline) {
    inWindow += sample.calls;
    while (timeline[first]!.at <= sample.at - HUBSPOT_WINDOW_MS) inWindow -= timeline[first++]!.calls;
    peak = Math.max(peak, inWindow);
  }
  return peak;
}

serveCalls({
  async start({ world, accessToken, hubspotMs, mailchimpMs }: { world: DemoWorld; accessToken: string; hubspotMs: number; mailchimpMs: number }) {
    // rateLimit left unset: the stand-in's default, HubSpot's 100 per 10 s.
    hubspot = await startHubSpotStandIn({ world, accessToken });
    hubspot.latency = { fixedMs: hubspotMs, jitterMs: 0 };
    mailchimp = await startMailchimpStandIn({ world, apiKey: API_KEY, listId: LIST_ID, knobs: { latencyMs: mailchimpMs } });
    sampler = setInterval(() => {
      const total = hubspot!.stats.total;
      if (total > lastTotal) timeline.push({ at: performance.now(), calls: total - lastTotal });
      lastTotal = total;
    }, SAMPLE_MS);
    return { hubspotUrl: hubspot.url, mailchimpUrl: mailchimp.url, rateLimit: hubspot.rateLimit };
  },
  counts(): FleetStandInCounts {
    const mc = mailchimp!.stats;
    return {
      hubspot: hubspot!.stats.total,
      hubspot429: hubspot!.stats.byStatus[429] ?? 0,
      mailchimp: mc.requests,
      mailchimp429: mc.byStatus[429] ?? 0,
      mailchimpPeakInFlight: mc.peakInFlight,
      contactsPerCall: hubspot!.stats.inputsPerCall(ENDPOINTS.contactsBatchRead),
      peakPerWindow: peakPerWindow(),
    };
  },
  reset() {
    hubspot!.stats.reset();
    mailchimp!.resetStats();
    timeline = [];
    lastTotal = 0;
  },
  async close() {
    clearInterval(sampler);
    await Promise.all([hubspot?.close(), mailchimp?.close()]);
  },
});
