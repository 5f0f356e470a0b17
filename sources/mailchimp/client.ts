import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import { SourceError } from '../errors.ts';

/** The slice of an SDK ApiClient instance this source calls; bodies are checked by mapping.ts. */
export interface SdkClient {
  basePath: string;
  /** Per request, in ms; superagent aborts the request when it passes. */
  timeout: number;
  setConfig(config: { apiKey: string }): void;
  /** When set, every request is handed to `agent.attachCookies` before it is sent (below: connections). */
  enableCookies: boolean;
  agent: { attachCookies(request: { agent(agent: HttpAgent): unknown }): void; saveCookies(response: unknown): void };
  buildUrl(path: string, pathParams: Record<string, string>): string;
  lists: {
    /** The audience itself (GET /lists/{list_id}); the contract check reads it. */
    getList(listId: string, opts: { fields: readonly string[] }): Promise<unknown>;
    getListMember(listId: string, hash: string, opts: { fields: readonly string[] }): Promise<unknown>;
    getListMemberActivityFeed(listId: string, hash: string, opts: { fields: readonly string[]; count: number; activityFilters?: readonly string[] }): Promise<unknown>;
    getListMemberTags(listId: string, hash: string, opts: { fields: readonly string[]; count: number }): Promise<unknown>;
  };
  ping: { get(): Promise<unknown> };
}

// The package's main export is a process-wide singleton (ApiClient.instance); each source builds
// its own client from the class so that its key, base path and timeout are its own.
const require = createRequire(import.meta.url);
const ApiClient = require('@mailchimp/mailchimp_marketing/src/ApiClient') as new () => SdkClient;

export interface ClientOptions {
  readonly apiKey: string;
  /** Datacenter such as "us21"; defaults to the API key's suffix. */
  readonly serverPrefix?: string;
  /** Origin of a Mailchimp-compatible API (the stand-in, a proxy); wins over the datacenter. */
  readonly baseUrl?: string;
  readonly timeoutMs: number;
}

const notConfigured = (message: string): SourceError => new SourceError('email', 'not_configured', message);

/** The API root: `${baseUrl}/3.0`, or the key's datacenter at api.mailchimp.com. Throws not_configured. */
export function basePathOf(options: ClientOptions): string {
  if (options.baseUrl) return `${options.baseUrl.replace(/\/+$/, '').replace(/\/3\.0$/, '')}/3.0`;
  const prefix = options.serverPrefix || /-([a-z]+\d+)$/.exec(options.apiKey)?.[1];
  if (!prefix) throw notConfigured('expected an API key ending in its datacenter (such as "-us21") or a server prefix');
  if (!/^[a-z]+\d+$/.test(prefix)) throw notConfigured('expected a server prefix such as "us21"');
  return `https://${prefix}.api.mailchimp.com/3.0`;
}

/** A fresh SDK client for one source. Throws not_configured when the options cannot reach an API. */
export function createMailchimpClient(options: ClientOptions): SdkClient {
  if (!options.apiKey) throw notConfigured('expected a Mailchimp API key');
  const client = new ApiClient();
  // Config without `server`: the SDK then skips replacing the first "server" in every URL, which
  // would otherwise rewrite hosts such as mock-server.internal.
  client.setConfig({ apiKey: options.apiKey });
  client.basePath = basePathOf(options);
  client.timeout = options.timeoutMs;
  return client;
}

/**
 * Sends the client's requests over `connections` (keepAliveAgent) instead of a connection each.
 * The SDK's superagent opens one per request (agent: false) and takes no agent of its own; its
 * cookie hook is the one place it hands each request over before sending it. No cookie is kept:
 * the hook only gives the request its connections.
 */
export function useConnections(client: SdkClient, connections: HttpAgent): void {
  client.enableCookies = true;
  client.agent = { attachCookies: (request) => request.agent(connections), saveCookies: () => undefined };
}

/**
 * Connections to the API at `basePath` that stay open `idleMs` after a request for the next one,
 * at most `maxSockets` of them (in use or idle): against Mailchimp, a request that finds one open
 * skips the TCP and TLS handshakes. An idle connection does not keep the process alive; `destroy()`
 * closes them all.
 */
export function keepAliveAgent(basePath: string, { idleMs, maxSockets }: { readonly idleMs: number; readonly maxSockets: number }): HttpAgent {
  const options = { keepAlive: true, timeout: idleMs, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' } as const;
  return basePath.startsWith('https:') ? new HttpsAgent(options) : new HttpAgent(options);
}
