import { personAt, populationSize, type DemoPerson, type DemoWorld } from '../../sandbox/demo/people.ts';
import { startMailchimpStandIn, type MailchimpStandIn, type StandInKnobs } from '../../sandbox/mailchimp/index.ts';
import { createMailchimpSource, type MailchimpSourceOptions } from '../../sources/mailchimp/index.ts';

export const WORLD: DemoWorld = { seed: 360, customers: 200, asOf: new Date('2026-11-01T00:00:00Z') };
export const API_KEY = '0123456789abcdef0123456789abcdef-us21';
export const LIST_ID = 'c360demo01';

const everyone = Array.from({ length: populationSize(WORLD) }, (_, i) => personAt(WORLD, i));

/** People of the test world matching `test`, in index order. */
export const peopleWhere = (test: (person: DemoPerson) => boolean): DemoPerson[] => everyone.filter(test);

/** Emails of the first `count` audience members (optionally of one status). */
export function memberEmails(count: number, status?: string): string[] {
  const members = peopleWhere((p) => p.emailMarketing !== null && (!status || p.emailMarketing.status === status));
  if (members.length < count) throw new Error(`expected ${count} members, the test world has ${members.length}`);
  return members.slice(0, count).map((p) => p.email);
}

/** Emails of people in the world but not in the audience. */
export const strangerEmails = (count: number): string[] =>
  peopleWhere((p) => p.emailMarketing === null)
    .slice(0, count)
    .map((p) => p.email);

/** A stand-in over the test world, with the URL of every request it received. */
export type TestStandIn = MailchimpStandIn & { readonly requests: URL[] };

export async function startStandIn(knobs: Partial<StandInKnobs> = {}): Promise<TestStandIn> {
  const requests: URL[] = [];
  const onRequest = ({ url }: { url: URL }): void => void requests.push(url);
  const standIn = await startMailchimpStandIn({ world: WORLD, apiKey: API_KEY, listId: LIST_ID, knobs, onRequest });
  return Object.assign(standIn, { requests });
}

export interface LogLine {
  readonly level: 'warn' | 'error';
  readonly obj: object;
  readonly msg: string;
}

/** A source wired to the stand-in, with a logger that records what it was told. */
export function sourceFor(standIn: MailchimpStandIn, overrides: Partial<MailchimpSourceOptions> = {}) {
  const logs: LogLine[] = [];
  const source = createMailchimpSource({
    apiKey: API_KEY,
    baseUrl: standIn.url,
    listId: LIST_ID,
    timeoutMs: 2_000,
    retryBudgetMs: 1_000,
    logger: {
      warn: (obj, msg) => void logs.push({ level: 'warn', obj, msg }),
      error: (obj, msg) => void logs.push({ level: 'error', obj, msg }),
    },
    ...overrides,
  });
  return { source, logs };
}

/** Puts every knob back to its default and zeroes the counters. */
export function resetStandIn(standIn: TestStandIn): void {
  Object.assign(standIn.knobs, { latencyMs: 0, jitterMs: 0, errorRate: 0, force429: 0, force500: 0, hang: false, connectionLimit: 10 });
  standIn.resetStats();
  standIn.requests.length = 0;
}
