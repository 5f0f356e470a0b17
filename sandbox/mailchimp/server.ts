import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DemoWorld, MemberStatus } from '../demo/people.ts';
import { ENDPOINTS, MailchimpApi, endpointOf, type Endpoint } from './api.ts';
import { problems, type Problem } from './problem.ts';

/** Faults and limits to inject; change them on a running stand-in through `standIn.knobs`. */
export interface StandInKnobs {
  /** Added before every accepted request is answered, plus a uniform 0..jitterMs. */
  latencyMs: number;
  jitterMs: number;
  /** Share of requests (0..1) answered 500, drawn per request. */
  errorRate: number;
  /** Answer the next N authenticated requests 429 (counting down), or every one. */
  force429: number | 'always';
  /** Answer the next N authenticated requests 500 (counting down), or every one. */
  force500: number | 'always';
  /** Accept requests and never answer (until the client gives up or the stand-in closes). */
  hang: boolean;
  /** The account's simultaneous connections: a request arriving beyond it gets 429 at once. */
  connectionLimit: number;
  /** Sent as `Retry-After` (seconds) with every 429 when set; Mailchimp itself sends none. */
  retryAfterSeconds?: number;
  /** How many of the next successful answers get a truncated JSON body (Infinity: all of them). */
  corruptResponses?: number;
}

export const DEFAULT_KNOBS: Readonly<StandInKnobs> = {
  latencyMs: 0,
  jitterMs: 0,
  errorRate: 0,
  force429: 0,
  force500: 0,
  hang: false,
  connectionLimit: 10,
};

/** What the stand-in saw since start or the last resetStats(). */
export interface StandInStats {
  readonly requests: number;
  readonly byEndpoint: Readonly<Record<Endpoint, number>>;
  /** Responses sent, by HTTP status (hung requests have none). */
  readonly byStatus: Readonly<Record<number, number>>;
  readonly inFlight: number;
  /** Most requests in flight at once, counting any the connection limit turned away. */
  readonly peakInFlight: number;
  /** TCP connections accepted: a client that keeps its connections open opens fewer than it sends requests. */
  readonly connections: number;
}

export interface MailchimpStandInOptions {
  readonly world: DemoWorld;
  /** The Basic-auth password every request must carry (any user name, as with Mailchimp). */
  readonly apiKey: string;
  /** The one audience served; any other list id is 404. */
  readonly listId: string;
  /** 0 or absent: a free port. */
  readonly port?: number;
  readonly host?: string;
  readonly knobs?: Partial<StandInKnobs>;
  /** Sees every request as it arrives (tests assert on query parameters with it). */
  readonly onRequest?: (request: { readonly method: string; readonly url: URL }) => void;
}

export interface MailchimpStandIn {
  /** Origin, e.g. http://127.0.0.1:PORT; the SDK's basePath is url + '/3.0'. */
  readonly url: string;
  /** Live: assignments apply to the next request. */
  readonly knobs: StandInKnobs;
  /** A snapshot. */
  readonly stats: StandInStats;
  resetStats(): void;
  /** Changes a member's status from the next request on (an unsubscribe, say); the demo world is left as it is. */
  setMemberStatus(email: string, status: MemberStatus): void;
  /** Stops listening and drops every connection, hung requests included. */
  close(): Promise<void>;
  /** Like `close`, but keeps the port for `listenAgain`: meanwhile clients get ECONNREFUSED. */
  stopListening(): Promise<void>;
  /** Listens again on the port it had before `stopListening`. */
  listenAgain(): Promise<void>;
}

class Counters {
  requests = 0;
  byEndpoint = Object.fromEntries(ENDPOINTS.map((e) => [e, 0])) as Record<Endpoint, number>;
  byStatus: Record<number, number> = {};
  inFlight = 0;
  peakInFlight = 0;
  connections = 0;

  /** Requests still in flight stay counted: they will leave after the reset. */
  reset(): void {
    Object.assign(this, new Counters(), { inFlight: this.inFlight, peakInFlight: this.inFlight });
  }

  arrive(endpoint: Endpoint): void {
    this.requests++;
    this.byEndpoint[endpoint]++;
    this.peakInFlight = Math.max(this.peakInFlight, ++this.inFlight);
  }

  snapshot(): StandInStats {
    return { ...this, byEndpoint: { ...this.byEndpoint }, byStatus: { ...this.byStatus } };
  }
}

/** Takes one from a countdown knob; true when this request should get that fault. */
function take(knobs: StandInKnobs, knob: 'force429' | 'force500'): boolean {
  const value = knobs[knob];
  if (value === 'always') return true;
  if (value <= 0) return false;
  knobs[knob] = value - 1;
  return true;
}

function authProblem(header: string | undefined, apiKey: string): Problem | null {
  const [scheme, token] = (header ?? '').split(' ');
  if (scheme?.toLowerCase() !== 'basic' || !token) return problems.keyMissing();
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  return decoded.slice(decoded.indexOf(':') + 1) === apiKey ? null : problems.keyInvalid();
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a local Mailchimp Marketing API (the read endpoints the email source uses) over the demo
 * world, so the real SDK runs in demo, tests and benchmarks. Resolves once it listens.
 */
export async function startMailchimpStandIn(options: MailchimpStandInOptions): Promise<MailchimpStandIn> {
  const knobs: StandInKnobs = { ...DEFAULT_KNOBS, ...options.knobs };
  const counters = new Counters();
  // Both known once listening (links in bodies carry the port), before any request is read.
  let url = '';
  let api: MailchimpApi;

  const send = (res: ServerResponse, status: number, body: object): void => {
    if (res.destroyed || res.writableEnded) return; // the client gave up meanwhile
    counters.byStatus[status] = (counters.byStatus[status] ?? 0) + 1;
    const type = status < 400 ? 'application/json' : 'application/problem+json';
    let text = JSON.stringify(body);
    if (status < 300 && (knobs.corruptResponses ?? 0) > 0) {
      knobs.corruptResponses! -= 1;
      text = text.slice(0, Math.floor(text.length / 2));
    }
    const retryAfter = status === 429 && knobs.retryAfterSeconds !== undefined ? { 'retry-after': String(knobs.retryAfterSeconds) } : {};
    res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, ...retryAfter }).end(text);
  };
  const sendProblem = (res: ServerResponse, problem: Problem): void => send(res, problem.status, problem);

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = new URL(req.url ?? '/', url);
    counters.arrive(endpointOf(target.pathname));
    options.onRequest?.({ method: req.method ?? 'GET', url: target });
    // 'close' comes once per response, answered or abandoned by the client (Node >= 16).
    res.once('close', () => counters.inFlight--);
    if (counters.inFlight > knobs.connectionLimit) return sendProblem(res, problems.tooManyRequests(knobs.connectionLimit));
    if (knobs.hang) return;
    await sleep(knobs.latencyMs + Math.random() * knobs.jitterMs);
    if (req.method !== 'GET') return sendProblem(res, problems.methodNotAllowed());
    const rejected = authProblem(req.headers.authorization, options.apiKey);
    if (rejected) return sendProblem(res, rejected);
    if (take(knobs, 'force429')) return sendProblem(res, problems.tooManyRequests(knobs.connectionLimit));
    if (take(knobs, 'force500') || Math.random() < knobs.errorRate) return sendProblem(res, problems.internal());
    const response = await api.handle(target);
    send(res, response.status, response.body);
  }

  const server = createServer((req, res) => {
    serve(req, res).catch(() => sendProblem(res, problems.internal()));
  });
  server.on('connection', () => void counters.connections++);
  let bound = { port: 0, host: '' };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      const { address, port } = server.address() as AddressInfo;
      bound = { port, host: address };
      url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
      api = new MailchimpApi({ world: options.world, listId: options.listId, apiBase: `${url}/3.0` });
      resolve();
    });
  });

  return {
    url,
    knobs,
    get stats() {
      return counters.snapshot();
    },
    resetStats: () => counters.reset(),
    setMemberStatus: (email, status) => api.setStatus(email, status),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
    stopListening: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
    listenAgain: () =>
      server.listening
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            server.once('error', reject).listen(bound.port, bound.host, () => {
              server.off('error', reject);
              resolve();
            });
          }),
  };
}
