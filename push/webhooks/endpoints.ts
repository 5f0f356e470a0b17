import { randomBytes, randomUUID } from 'node:crypto';
import type { RedisClient } from '../../cache/redis-client.ts';
import { badUserInput } from '../../resolvers/errors.ts';
import { Scope } from '../../server/auth/scopes.ts';
import { TRIGGERS, type TriggerName } from '../signals.ts';

/** An outgoing webhook endpoint as stored, secret included (never logged, never listed). */
export interface Endpoint {
  readonly id: string;
  readonly url: string;
  readonly triggers: readonly TriggerName[];
  /** A selection set on `Customer`, as registered (checked by `SelectionRunner.check`). */
  readonly selection: string;
  readonly scopes: readonly Scope[];
  readonly description: string | null;
  /** `whsec_` + base64 of 32 random bytes (Standard Webhooks). */
  readonly secret: string;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly secretRotatedAt: number;
  /** Epoch ms of the 410 Gone that turned it off; null while on. */
  readonly disabledAt: number | null;
}

/** What an admin registers. */
export interface EndpointInput {
  readonly url: string;
  readonly triggers: readonly string[];
  readonly selection: string;
  /** `customer:read:traits` alone when omitted. */
  readonly scopes?: readonly string[] | null;
  readonly description?: string | null;
}

/** The scopes a selection may run with: never admin, never a self scope. */
export const SELECTION_SCOPES: readonly Scope[] = [Scope.Traits, Scope.Segments, Scope.Pii];
const MAX_URL_LENGTH = 2048;
const MAX_DESCRIPTION_LENGTH = 500;

/** A new signing secret, as Standard Webhooks writes them. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * Checks an endpoint's input (the selection is checked separately, against the schema) and
 * returns the endpoint it registers, with a new id and secret. Throws BAD_USER_INPUT naming the field.
 */
export function endpointOf(input: EndpointInput, options: { production: boolean; now: number }): Endpoint {
  return {
    id: randomUUID(),
    url: checkUrl(input.url, options.production),
    triggers: checkTriggers(input.triggers),
    selection: input.selection,
    scopes: checkScopes(input.scopes ?? [Scope.Traits]),
    description: checkDescription(input.description ?? null),
    secret: newSecret(),
    createdAt: options.now,
    secretRotatedAt: options.now,
    disabledAt: null,
  };
}

function checkUrl(value: string, production: boolean): string {
  if (value.length > MAX_URL_LENGTH) throw badUserInput(`url: expected at most ${MAX_URL_LENGTH} characters, got ${value.length}`, 'url');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badUserInput('url: expected an absolute http(s) URL', 'url');
  }
  const allowed = production ? ['https:'] : ['https:', 'http:'];
  if (!allowed.includes(url.protocol)) {
    throw badUserInput(`url: expected ${production ? 'https (production)' : 'http or https'}, got ${url.protocol.slice(0, -1)}`, 'url');
  }
  // Credentials in the URL would be listed to every admin and sent in clear in logs of proxies.
  if (url.username || url.password) throw badUserInput('url: expected no user name or password in the URL', 'url');
  return url.toString();
}

function checkTriggers(values: readonly string[]): TriggerName[] {
  if (values.length === 0) throw badUserInput('triggers: expected at least one trigger', 'triggers');
  const unknown = values.filter((value) => !(TRIGGERS as readonly string[]).includes(value));
  if (unknown.length > 0) throw badUserInput(`triggers: expected some of ${TRIGGERS.join(', ')}, got ${unknown.join(', ')}`, 'triggers');
  return [...new Set(values as TriggerName[])];
}

function checkScopes(values: readonly string[]): Scope[] {
  const unknown = values.filter((value) => !(SELECTION_SCOPES as readonly string[]).includes(value));
  if (unknown.length > 0) throw badUserInput(`scopes: expected some of ${SELECTION_SCOPES.join(', ')}, got ${unknown.join(', ')}`, 'scopes');
  // The selection is read through `customer(id:)`, which needs it.
  if (!values.includes(Scope.Traits)) throw badUserInput(`scopes: expected ${Scope.Traits} among them (the customer is read by id)`, 'scopes');
  return [...new Set(values as Scope[])];
}

function checkDescription(value: string | null): string | null {
  if (value !== null && value.length > MAX_DESCRIPTION_LENGTH) {
    throw badUserInput(`description: expected at most ${MAX_DESCRIPTION_LENGTH} characters, got ${value.length}`, 'description');
  }
  return value;
}

/**
 * Where endpoints are kept: a Redis hash (field: id, value: JSON) shared by every replica, or this
 * process's memory. Reads and writes reject when Redis does.
 */
export interface EndpointStore {
  /** Every endpoint, in registration order. */
  list(): Promise<Endpoint[]>;
  get(id: string): Promise<Endpoint | null>;
  put(endpoint: Endpoint): Promise<void>;
  /** False when there was none. */
  remove(id: string): Promise<boolean>;
}

export class MemoryEndpointStore implements EndpointStore {
  private readonly endpoints = new Map<string, Endpoint>();

  async list(): Promise<Endpoint[]> {
    return [...this.endpoints.values()].sort(byCreation);
  }

  async get(id: string): Promise<Endpoint | null> {
    return this.endpoints.get(id) ?? null;
  }

  async put(endpoint: Endpoint): Promise<void> {
    this.endpoints.set(endpoint.id, endpoint);
  }

  async remove(id: string): Promise<boolean> {
    return this.endpoints.delete(id);
  }
}

export class RedisEndpointStore implements EndpointStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
  ) {}

  async list(): Promise<Endpoint[]> {
    const all = await this.redis.hgetall(this.key);
    return Object.values(all)
      .map((json) => JSON.parse(json) as Endpoint)
      .sort(byCreation);
  }

  async get(id: string): Promise<Endpoint | null> {
    const json = await this.redis.hget(this.key, id);
    return json === null ? null : (JSON.parse(json) as Endpoint);
  }

  async put(endpoint: Endpoint): Promise<void> {
    await this.redis.hset(this.key, endpoint.id, JSON.stringify(endpoint));
  }

  async remove(id: string): Promise<boolean> {
    return (await this.redis.hdel(this.key, id)) > 0;
  }
}

function byCreation(a: Endpoint, b: Endpoint): number {
  return a.createdAt - b.createdAt || a.id.localeCompare(b.id);
}
