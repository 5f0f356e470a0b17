import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { startHubSpotStandIn, type HubSpotStandIn } from '../../sandbox/hubspot/index.ts';
import { startMailchimpStandIn, type MailchimpStandIn } from '../../sandbox/mailchimp/index.ts';
import { createHubSpotSource, type HubSpotSource } from '../../sources/hubspot/index.ts';
import { createMailchimpSource, type MailchimpSource } from '../../sources/mailchimp/index.ts';

const TOKEN = 'pat-test-0000000000000000';
const API_KEY = '00000000000000000000000000000000-us21';
const silent = { warn: () => undefined, error: () => undefined };

export interface StandIns {
  readonly hubspot: HubSpotStandIn;
  readonly mailchimp: MailchimpStandIn;
  /** The real CRM and email sources, pointed at the stand-ins (no rate limit worth hitting). */
  sources(options?: { timeoutMs?: number; retryBudgetMs?: number; extraProperties?: readonly string[] }): {
    crm: HubSpotSource;
    email: MailchimpSource;
  };
  close(): Promise<void>;
}

/** The HubSpot and Mailchimp stand-ins serving `world`, on free loopback ports. */
export async function startStandIns(world: DemoWorld): Promise<StandIns> {
  const [hubspot, mailchimp] = await Promise.all([
    startHubSpotStandIn({ world, accessToken: TOKEN, rateLimit: null }),
    startMailchimpStandIn({ world, apiKey: API_KEY, listId: 'demo' }),
  ]);
  return {
    hubspot,
    mailchimp,
    sources: ({ timeoutMs = 1000, retryBudgetMs = 300, extraProperties = [] } = {}) => ({
      crm: createHubSpotSource({
        accessToken: TOKEN,
        baseUrl: hubspot.url,
        timeoutMs,
        retryBudgetMs,
        rateLimit: { requests: 1000, intervalMs: 10_000 },
        extraProperties,
        logger: silent,
      }),
      email: createMailchimpSource({ apiKey: API_KEY, baseUrl: mailchimp.url, listId: 'demo', timeoutMs, retryBudgetMs, logger: silent }),
    }),
    close: async () => {
      await Promise.all([hubspot.close(), mailchimp.close()]);
    },
  };
}
