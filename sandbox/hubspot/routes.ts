import type { DemoWorld } from '../demo/people.ts';
import { batchError, batchReply, errorBody, notFound, unauthorized, validationError, type Reply } from './bodies.ts';
import { COMPANY_PROPERTY_NAMES, CONTACT_PROPERTY_NAMES, contactPropertyDefinition, contactPropertyDefinitions } from './properties.ts';
import { companyById, companyIdOfContact, contactByEmail, contactById, ownerById, type StoredObject } from './records.ts';
import { parseSearch, search } from './search.ts';

/** The endpoints the stand-in serves, named as its stats count them. */
export const ENDPOINTS = {
  contactsBatchRead: 'POST /crm/v3/objects/contacts/batch/read',
  contactGet: 'GET /crm/v3/objects/contacts/{contactId}',
  contactsSearch: 'POST /crm/v3/objects/contacts/search',
  contactCompanyAssociationsBatchRead: 'POST /crm/v4/associations/contacts/companies/batch/read',
  companiesBatchRead: 'POST /crm/v3/objects/companies/batch/read',
  ownerGet: 'GET /crm/v3/owners/{ownerId}',
  contactPropertiesList: 'GET /crm/v3/properties/contacts',
  contactPropertyGet: 'GET /crm/v3/properties/contacts/{propertyName}',
  privateAppTokenInfo: 'POST /oauth/v2/private-apps/get/access-token-info',
} as const;

export type Endpoint = (typeof ENDPOINTS)[keyof typeof ENDPOINTS];

export interface RouteRequest {
  readonly world: DemoWorld;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The parsed JSON body (undefined for GETs). */
  readonly body: unknown;
  /** The private-app token the stand-in accepts, and the scopes it was granted. */
  readonly token: { readonly key: string; readonly scopes: readonly string[] };
  /** Results one search may page through (HubSpot: 10,000). */
  readonly searchResultCap: number;
}

interface Route {
  readonly endpoint: Endpoint;
  readonly pattern: RegExp;
  handle(request: RouteRequest): Reply | Promise<Reply>;
}

const ROUTES: readonly Route[] = [
  { endpoint: ENDPOINTS.contactsBatchRead, pattern: /^\/crm\/v3\/objects\/contacts\/batch\/read$/, handle: readContacts },
  // Before contactGet: `search` is not a contact id (and GET would not match it anyway).
  { endpoint: ENDPOINTS.contactsSearch, pattern: /^\/crm\/v3\/objects\/contacts\/search$/, handle: searchContacts },
  { endpoint: ENDPOINTS.contactGet, pattern: /^\/crm\/v3\/objects\/contacts\/(?<contactId>[^/]+)$/, handle: getContact },
  {
    endpoint: ENDPOINTS.contactCompanyAssociationsBatchRead,
    pattern: /^\/crm\/v4\/associations\/contacts\/companies\/batch\/read$/,
    handle: readContactCompanies,
  },
  { endpoint: ENDPOINTS.companiesBatchRead, pattern: /^\/crm\/v3\/objects\/companies\/batch\/read$/, handle: readCompanies },
  { endpoint: ENDPOINTS.ownerGet, pattern: /^\/crm\/v3\/owners\/(?<ownerId>[^/]+)$/, handle: getOwner },
  { endpoint: ENDPOINTS.contactPropertiesList, pattern: /^\/crm\/v3\/properties\/contacts\/?$/, handle: listContactProperties },
  { endpoint: ENDPOINTS.contactPropertyGet, pattern: /^\/crm\/v3\/properties\/contacts\/(?<propertyName>[^/]+)$/, handle: getContactProperty },
  { endpoint: ENDPOINTS.privateAppTokenInfo, pattern: /^\/oauth\/v2\/private-apps\/get\/access-token-info$/, handle: tokenInfo },
];

/** The route for a request line, with its decoded path parameters, or null for an unknown route. */
export function matchRoute(method: string, pathname: string): { route: Route; params: Record<string, string> } | null {
  for (const route of ROUTES) {
    if (route.endpoint.split(' ')[0] !== method) continue;
    const match = route.pattern.exec(pathname);
    if (!match) continue;
    const params: Record<string, string> = {};
    for (const [name, value] of Object.entries(match.groups ?? {})) params[name] = decodeURIComponent(value);
    return { route, params };
  }
  return null;
}

interface BatchInput {
  readonly ids: string[];
  readonly properties: string[];
  readonly idProperty: string | undefined;
  readonly archived: boolean;
}

/** Checks a batch body as HubSpot does; a Reply is the 400 to send instead. */
function parseBatchInput(request: RouteRequest, max: number): BatchInput | Reply {
  const body = request.body as { inputs?: unknown; properties?: unknown; propertiesWithHistory?: unknown; idProperty?: unknown };
  if (typeof body !== 'object' || body === null || !Array.isArray(body.inputs)) {
    return validationError('Invalid input JSON on line 1, column 1: inputs is required');
  }
  const ids = body.inputs.map((input: unknown) => (input as { id?: unknown } | null)?.id);
  if (!ids.every((id): id is string => typeof id === 'string')) {
    return validationError('Invalid input JSON on line 1, column 1: every input needs a string id');
  }
  if (ids.length > max) return validationError(`The maximum number of inputs supported in a batch is ${max}`);
  const withHistory = Array.isArray(body.propertiesWithHistory) ? body.propertiesWithHistory : [];
  if (withHistory.length > 0 && ids.length > 50) {
    return validationError('The maximum number of inputs supported in a batch with propertiesWithHistory is 50');
  }
  const properties = Array.isArray(body.properties) ? body.properties.filter((p): p is string => typeof p === 'string') : [];
  const idProperty = typeof body.idProperty === 'string' ? body.idProperty : undefined;
  return { ids, properties, idProperty, archived: request.query.get('archived') === 'true' };
}

const isReply = (value: BatchInput | Reply): value is Reply => 'status' in value;

function readContacts(request: RouteRequest): Reply {
  const input = parseBatchInput(request, 100);
  if (isReply(input)) return input;
  const byEmail = input.idProperty === 'email';
  if (input.idProperty !== undefined && !byEmail && input.idProperty !== 'hs_object_id') {
    return validationError(`Property "${input.idProperty}" is not a unique identifier for CONTACT objects`);
  }
  const lookup = (id: string) => (byEmail ? contactByEmail(request.world, id) : contactById(request.world, id));
  return readObjects('CONTACT', input, input.archived ? () => null : lookup, {
    known: CONTACT_PROPERTY_NAMES,
    always: ['createdate', 'lastmodifieddate', 'hs_object_id'],
    whenNoneRequested: ['email', 'firstname', 'lastname'],
  });
}

/**
 * `{ total, results, paging? }` (CollectionResponseWithTotalSimplePublicObjectForwardPaging):
 * requested properties (or email, firstname, lastname) plus createdate, lastmodifieddate and
 * hs_object_id, as HubSpot's search returns them. See search.ts.
 */
async function searchContacts(request: RouteRequest): Promise<Reply> {
  const query = parseSearch(request.body, request.searchResultCap);
  if ('status' in query) return query;
  const page = await search(request.world, query);
  const names = ['createdate', 'lastmodifieddate', 'hs_object_id', ...(query.properties.length > 0 ? query.properties : ['email', 'firstname', 'lastname'])];
  const body: Record<string, unknown> = {
    total: page.total,
    results: page.contacts.map((contact) => simplePublicObject(contact, names, CONTACT_PROPERTY_NAMES)),
  };
  if (page.nextAfter !== null) body.paging = { next: { after: String(page.nextAfter), link: `?after=${page.nextAfter}` } };
  return { status: 200, body };
}

function readCompanies(request: RouteRequest): Reply {
  const input = parseBatchInput(request, 100);
  if (isReply(input)) return input;
  if (input.idProperty !== undefined && input.idProperty !== 'hs_object_id') {
    return validationError(`Property "${input.idProperty}" is not a unique identifier for COMPANY objects`);
  }
  return readObjects('COMPANY', input, input.archived ? () => null : (id) => companyById(request.world, id), {
    known: COMPANY_PROPERTY_NAMES,
    always: ['createdate', 'hs_lastmodifieddate', 'hs_object_id'],
    whenNoneRequested: ['name', 'domain'],
  });
}

interface PropertyRules {
  readonly known: ReadonlySet<string>;
  readonly always: readonly string[];
  readonly whenNoneRequested: readonly string[];
}

function readObjects(kind: 'CONTACT' | 'COMPANY', input: BatchInput, lookup: (id: string) => StoredObject | null, rules: PropertyRules): Reply {
  const startedAt = new Date();
  const found = new Map<string, StoredObject>();
  const missing: string[] = [];
  // HubSpot answers each object once, however often it was asked for.
  for (const id of new Set(input.ids)) {
    const object = lookup(id);
    if (object) found.set(object.id, object);
    else missing.push(id);
  }
  const names = [...rules.always, ...(input.properties.length > 0 ? input.properties : rules.whenNoneRequested)];
  const results = shuffle([...found.values()].map((object) => simplePublicObject(object, names, rules.known)));
  const errors = missing.length
    ? [batchError('OBJECT_NOT_FOUND', `Could not get some ${kind} objects, they may be deleted or not exist. Check that ids are valid.`, { ids: missing })]
    : [];
  return batchReply(results, errors, startedAt);
}

/** The `SimplePublicObject` shape with only the requested (and defined) properties. */
function simplePublicObject(object: StoredObject, names: readonly string[], known: ReadonlySet<string>) {
  const properties: Record<string, string | null> = {};
  for (const name of names) if (known.has(name)) properties[name] = object.properties[name] ?? null;
  return {
    id: object.id,
    properties,
    createdAt: object.createdAt.toISOString(),
    updatedAt: object.updatedAt.toISOString(),
    archived: false,
  };
}

/** Results in an order other than the inputs', as HubSpot's are, so clients must match them back. */
function shuffle<T>(items: T[]): T[] {
  const shuffled = [...items];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  if (shuffled.length > 1 && shuffled.every((item, i) => item === items[i])) shuffled.push(shuffled.shift()!);
  return shuffled;
}

function getContact(request: RouteRequest): Reply {
  const id = request.params.contactId!;
  const idProperty = request.query.get('idProperty');
  const archived = request.query.get('archived') === 'true';
  const contact = archived ? null : idProperty === 'email' ? contactByEmail(request.world, id) : contactById(request.world, id);
  if (!contact) return notFound('Object not found.  objectId are usually numeric.', { id: [id] });
  const requested = request.query
    .getAll('properties')
    .flatMap((p) => p.split(','))
    .filter(Boolean);
  const names = ['createdate', 'lastmodifieddate', 'hs_object_id', ...(requested.length ? requested : ['email', 'firstname', 'lastname'])];
  return { status: 200, body: simplePublicObject(contact, names, CONTACT_PROPERTY_NAMES) };
}

function readContactCompanies(request: RouteRequest): Reply {
  const input = parseBatchInput(request, 1000);
  if (isReply(input)) return input;
  const startedAt = new Date();
  const results: unknown[] = [];
  const errors: Array<Record<string, unknown>> = [];
  for (const id of new Set(input.ids)) {
    const companyId = companyIdOfContact(request.world, id);
    if (typeof companyId !== 'string') {
      errors.push(batchError('OBJECT_NOT_FOUND', `No company is associated with contact ${id}.`, { fromObjectId: [id] }));
      continue;
    }
    results.push({
      from: { id },
      to: [
        {
          toObjectId: companyId,
          associationTypes: [
            { category: 'HUBSPOT_DEFINED', typeId: 1, label: 'Primary' },
            { category: 'HUBSPOT_DEFINED', typeId: 279 },
          ],
        },
      ],
    });
  }
  return batchReply(shuffle(results), errors, startedAt);
}

function getOwner(request: RouteRequest): Reply {
  const idProperty = request.query.get('idProperty') === 'userId' ? 'userId' : 'id';
  const owner = request.query.get('archived') === 'true' ? null : ownerById(request.params.ownerId!, idProperty);
  return owner ? { status: 200, body: owner } : notFound(`Owner not found for ${idProperty} ${request.params.ownerId}`);
}

function listContactProperties(): Reply {
  return { status: 200, body: { results: contactPropertyDefinitions() } };
}

function getContactProperty(request: RouteRequest): Reply {
  const property = contactPropertyDefinition(request.params.propertyName!);
  if (property) return { status: 200, body: property };
  return { status: 404, body: errorBody('OBJECT_NOT_FOUND', `Unable to find property ${request.params.propertyName}`) };
}

/** The demo portal's ids, as the token-info answer carries them. */
const DEMO_PORTAL = { userId: 1000001, hubId: 4000001, appId: 2000001 };

/**
 * What HubSpot tells about a private-app token (body `{ tokenKey }`): `{ userId, hubId, appId,
 * scopes }`. The endpoint needs no scope; an unknown token gets the 401 every route gives.
 */
function tokenInfo(request: RouteRequest): Reply {
  const tokenKey = (request.body as { tokenKey?: unknown } | undefined)?.tokenKey;
  if (typeof tokenKey !== 'string' || tokenKey === '') return validationError('Invalid input JSON on line 1, column 1: tokenKey is required');
  if (tokenKey !== request.token.key) return unauthorized();
  return { status: 200, body: { ...DEMO_PORTAL, scopes: [...request.token.scopes] } };
}
