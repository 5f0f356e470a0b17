import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { DemoWorld } from '../demo/people.ts';
import { internalError, rateLimitedBody, unauthorized, validationError, errorBody, type RateLimitPolicy, type Reply } from './bodies.ts';
import { ENDPOINTS, matchRoute } from './routes.ts';
import { SEARCH_LIMITS } from './search.ts';
import { Counters, type StandInStats } from './stats.ts';

export { ENDPOINTS, type Endpoint } from './routes.ts';
export { hubspotDeliveryHeaders } from './signing.ts';
export type { StandInStats, ServedCall } from './stats.ts';
export type { RateLimitPolicy } from './bodies.ts';
export { prepareSearchIndex, SEARCH_LIMITS } from './search.ts';

export interface HubSpotStandInOptions {
  readonly world: DemoWorld;
  /** The private-app token clients must send as `Authorization: Bearer <token>`. */
  readonly accessToken: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  readonly host?: '127.0.0.1';
  /** The TEN_SECONDLY_ROLLING limit to enforce; HubSpot's Free/Starter one by default, null for none. */
  readonly rateLimit?: RollingLimit | null;
  /** CRM search's own per-account limit (HubSpot: 5 per second), apart from `rateLimit`; null for none. */
  readonly searchRateLimit?: RollingLimit | null;
}

export interface RollingLimit {
  /** Requests allowed in any window of `intervalMs`. */
  readonly max: number;
  readonly intervalMs: number;
}

export interface Forced429 {
  /** How many of the next requests get a 429, or 'always'. */
  readonly times: number | 'always';
  readonly policy: RateLimitPolicy;
  /** Sent as `Retry-After` when set; HubSpot itself usually sends none. */
  readonly retryAfterSeconds?: number;
}

/**
 * A running HubSpot stand-in. The knobs are read on every request, so a test may change them
 * between (or during) calls. Faults apply in this order: hang, latency, unknown route (404),
 * token (401), 429 (forced, then the rolling limit), errorRate (500), corrupt bodies.
 */
export interface HubSpotStandIn {
  /** Base URL for the SDK's `basePath`, without a trailing slash. */
  readonly url: string;
  readonly stats: StandInStats;
  /** Added before every answer: `fixedMs` plus up to `jitterMs` at random. */
  latency: { fixedMs: number; jitterMs: number };
  /** Share of requests (0..1) answered with HubSpot's 500 body. */
  errorRate: number;
  /** 429s to send before anything else; decremented as they are sent, then back to null. */
  force429: Forced429 | null;
  rateLimit: RollingLimit | null;
  /**
   * The limit CRM search requests meet instead of `rateLimit` (search is exempt from the
   * ten-secondly one): 429 SECONDLY beyond it, and no X-HubSpot-RateLimit headers on search answers.
   */
  searchRateLimit: RollingLimit | null;
  /** Results one search may page through before `after + limit` is a 400 (HubSpot: 10,000). */
  searchResultCap: number;
  /** Accept requests and never answer them (for client timeouts). */
  hang: boolean;
  /**
   * The scopes the token-info endpoint reports for the token (all the CRM source needs, by
   * default). Other routes do not enforce them.
   */
  scopes: string[];
  /** How many of the next successful answers get a truncated JSON body. */
  corruptResponses: number;
  /** Stops listening and drops every open connection, hung ones included. */
  close(): Promise<void>;
  /**
   * Like `close`, but keeps the port for `listenAgain`: meanwhile clients get ECONNREFUSED, as
   * when HubSpot's edge turns connections away.
   */
  stopListening(): Promise<void>;
  /** Listens again on the port it had before `stopListening`. */
  listenAgain(): Promise<void>;
}

const DAILY_LIMIT = 250_000;
/** What a private app made for the CRM source is granted: reading contacts, companies, owners and contact properties. */
const DEFAULT_SCOPES = ['oauth', 'crm.objects.contacts.read', 'crm.objects.companies.read', 'crm.objects.owners.read', 'crm.schemas.contacts.read'];

/**
 * Starts a local HubSpot that speaks the real REST shapes for the endpoints the CRM source uses,
 * serving the CRM contacts of `world` (every person whose `crm` traits are set), their companies
 * and the demo owners.
 */
export async function startHubSpotStandIn(options: HubSpotStandInOptions): Promise<HubSpotStandIn> {
  const standIn = new StandIn(options);
  await standIn.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return standIn;
}

class StandIn implements HubSpotStandIn {
  url = '';
  readonly stats = new Counters();
  latency = { fixedMs: 0, jitterMs: 0 };
  errorRate = 0;
  force429: Forced429 | null = null;
  rateLimit: RollingLimit | null;
  searchRateLimit: RollingLimit | null;
  searchResultCap: number = SEARCH_LIMITS.results;
  hang = false;
  scopes = [...DEFAULT_SCOPES];
  corruptResponses = 0;
  private readonly server: Server;
  private readonly world: DemoWorld;
  private readonly token: Buffer;
  private readonly accessToken: string;
  private readonly window: number[] = [];
  private readonly searchWindow: number[] = [];
  private dailyCount = 0;
  private bound: { port: number; host: string } | undefined;

  constructor(options: HubSpotStandInOptions) {
    this.world = options.world;
    this.token = Buffer.from(`Bearer ${options.accessToken}`);
    this.accessToken = options.accessToken;
    this.rateLimit = options.rateLimit === undefined ? { max: 100, intervalMs: 10_000 } : options.rateLimit;
    this.searchRateLimit = options.searchRateLimit === undefined ? { max: 5, intervalMs: 1000 } : options.searchRateLimit;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        // A bug here must look like HubSpot having a bad moment, not kill the process.
        if (!res.headersSent && !res.destroyed) this.send(res, internalError());
      });
    });
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const { port: bound } = this.server.address() as AddressInfo;
        this.url = `http://${host}:${bound}`;
        this.bound = { port: bound, host };
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  stopListening(): Promise<void> {
    return this.close();
  }

  listenAgain(): Promise<void> {
    if (!this.bound) return Promise.reject(new Error('expected the stand-in to have listened before, it never did'));
    return this.server.listening ? Promise.resolve() : this.listen(this.bound.port, this.bound.host);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const match = matchRoute(req.method ?? 'GET', url.pathname);
    const raw = await readBody(req);
    const parsed = parseJson(raw);
    const inputs = Array.isArray((parsed as { inputs?: unknown } | undefined)?.inputs) ? (parsed as { inputs: unknown[] }).inputs.length : undefined;
    const settle = this.stats.received(match?.route.endpoint ?? 'unknown', inputs);
    res.on('close', () => settle(res.writableFinished ? res.statusCode : 0));
    if (this.hang) return;
    await sleep(this.latency.fixedMs + Math.random() * this.latency.jitterMs);
    if (res.destroyed) return;
    const searching = match?.route.endpoint === ENDPOINTS.contactsSearch;
    const reply = await this.answer(req, url, match, raw, parsed, searching);
    if (!res.destroyed) this.send(res, reply, !searching);
  }

  private async answer(req: IncomingMessage, url: URL, match: ReturnType<typeof matchRoute>, raw: string, parsed: unknown, searching: boolean): Promise<Reply> {
    if (!match) return { status: 404, body: errorBody('OBJECT_NOT_FOUND', `No route for ${req.method} ${url.pathname}`) };
    if (!this.authorized(req.headers.authorization)) return unauthorized();
    const limited = this.limit(searching);
    if (limited) return limited;
    if (Math.random() < this.errorRate) return internalError();
    if (raw !== '' && parsed === undefined) return validationError('Invalid input JSON on line 1, column 1: malformed JSON');
    const token = { key: this.accessToken, scopes: this.scopes };
    return match.route.handle({ world: this.world, params: match.params, query: url.searchParams, body: parsed, token, searchResultCap: this.searchResultCap });
  }

  private authorized(header: string | undefined): boolean {
    const given = Buffer.from(header ?? '');
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }

  /**
   * A 429 when one is forced or the request's window is full (search's own secondly one, or the
   * rolling one); counts the request otherwise.
   */
  private limit(searching: boolean): Reply | null {
    const forced = this.force429;
    if (forced) {
      if (forced.times !== 'always') this.force429 = forced.times > 1 ? { ...forced, times: forced.times - 1 } : null;
      const headers: Record<string, string> = searching ? {} : this.limitHeaders(forced.policy);
      if (forced.retryAfterSeconds !== undefined) headers['Retry-After'] = String(forced.retryAfterSeconds);
      return { status: 429, body: rateLimitedBody(forced.policy), headers };
    }
    const now = Date.now();
    if (searching) {
      if (this.searchRateLimit && !admit(this.searchWindow, this.searchRateLimit, now)) return { status: 429, body: rateLimitedBody('SECONDLY') };
    } else if (this.rateLimit) {
      while (this.window.length > 0 && this.window[0]! <= now - this.rateLimit.intervalMs) this.window.shift();
      if (this.window.length >= this.rateLimit.max) {
        return { status: 429, body: rateLimitedBody('TEN_SECONDLY_ROLLING'), headers: this.limitHeaders('TEN_SECONDLY_ROLLING') };
      }
      this.window.push(now);
    }
    this.dailyCount += 1;
    return null;
  }

  /** The `X-HubSpot-RateLimit-*` headers HubSpot sends private apps on every answer. */
  private limitHeaders(exhausted?: RateLimitPolicy): Record<string, string> {
    const limit = this.rateLimit ?? { max: 100, intervalMs: 10_000 };
    const remaining = exhausted === 'TEN_SECONDLY_ROLLING' ? 0 : Math.max(0, limit.max - this.window.length);
    const dailyRemaining = exhausted === 'DAILY' ? 0 : Math.max(0, DAILY_LIMIT - this.dailyCount);
    return {
      'X-HubSpot-RateLimit-Daily': String(DAILY_LIMIT),
      'X-HubSpot-RateLimit-Daily-Remaining': String(dailyRemaining),
      'X-HubSpot-RateLimit-Interval-Milliseconds': String(limit.intervalMs),
      'X-HubSpot-RateLimit-Max': String(limit.max),
      'X-HubSpot-RateLimit-Remaining': String(remaining),
    };
  }

  /** `rateHeaders`: HubSpot sends no X-HubSpot-RateLimit headers on search answers. */
  private send(res: ServerResponse, reply: Reply, rateHeaders = true): void {
    let text = JSON.stringify(reply.body);
    if (reply.status < 300 && this.corruptResponses > 0) {
      this.corruptResponses -= 1;
      text = text.slice(0, Math.floor(text.length / 2));
    }
    res.writeHead(reply.status, {
      'Content-Type': 'application/json;charset=utf-8',
      ...(reply.status === 429 || !rateHeaders ? {} : this.limitHeaders()),
      ...reply.headers,
    });
    res.end(text);
  }
}

/** Whether a request at `now` fits the rolling window (and if so, records it there). */
function admit(window: number[], limit: RollingLimit, now: number): boolean {
  while (window.length > 0 && window[0]! <= now - limit.intervalMs) window.shift();
  if (window.length >= limit.max) return false;
  window.push(now);
  return true;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    // A client that gives up mid-body still gets counted, as an abandoned request.
    req.on('error', () => resolve(''));
  });
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve());
