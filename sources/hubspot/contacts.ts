import type { Client } from '@hubspot/api-client';
import { SourceError, type BatchFn } from '../errors.ts';
import { batchParts, malformed, readInChunks, text, validDate } from './batch.ts';
import type { Caller } from './caller.ts';
import type { CrmContact } from './model.ts';

type ContactsBatchApi = Client['crm']['contacts']['batchApi'];

/** HubSpot's limit on inputs per batch read (50 with propertiesWithHistory, which we never ask for). */
export const BATCH_READ_MAX = 100;

/** The contact properties behind CrmContact's typed fields; always fetched. */
export const STANDARD_CONTACT_PROPERTIES = [
  'email',
  'firstname',
  'lastname',
  'phone',
  'company',
  'jobtitle',
  'lifecyclestage',
  'hs_lead_status',
  'hubspot_owner_id',
  'city',
  'state',
  'zip',
  'country',
  'createdate',
  'lastmodifieddate',
  'hs_object_id',
] as const;

/**
 * Contact batch functions. Each answers one entry per key, in key order: the contact, null when
 * HubSpot has none, or an Error when the request for that key's chunk failed; it throws when
 * every request failed. The optional signal bounds retries (see BatchFn). One request per 100 distinct keys, all sent at once; answers are matched
 * back on email (or id), never on position.
 */
export interface ContactReaders {
  /** Keys: trimmed, lower-cased emails. */
  readonly contactsByEmail: BatchFn<string, CrmContact>;
  /** Keys: HubSpot contact ids; a key that is not a number is null without a request. */
  readonly contactsById: BatchFn<string, CrmContact>;
}

const WHAT = 'contacts batch read';
const NUMERIC_ID = /^\d{1,20}$/;

export function contactReaders(caller: Caller, api: ContactsBatchApi, extras: readonly string[]): ContactReaders {
  const properties = [...new Set([...STANDARD_CONTACT_PROPERTIES, ...extras])];

  async function readChunk(ids: string[], byEmail: boolean, signal: AbortSignal | undefined): Promise<Map<string, CrmContact | Error>> {
    const body = { inputs: ids.map((id) => ({ id })), properties, propertiesWithHistory: [], ...(byEmail ? { idProperty: 'email' } : {}) };
    const response = await caller.call(WHAT, () => api.read(body, false), signal);
    const { results, errors } = batchParts(WHAT, response);
    const answers = new Map<string, CrmContact | Error>();
    // Results come in no particular order and do not echo the inputs: match them on what they are.
    // (A contact found through a secondary email comes back under its primary one and so stays
    // null here: we never guess which input it answered.)
    for (const result of results) {
      const contact = toContact(result, extras);
      const key = byEmail ? contact.email : contact.id;
      if (key !== null) answers.set(key, contact);
    }
    for (const failure of errors) {
      if (failure.category === 'OBJECT_NOT_FOUND') continue;
      const error = new SourceError('crm', 'bad_response', `${WHAT}: HubSpot could not read this contact (${failure.category})`, { retryable: false });
      for (const id of failure.ids) answers.set(byEmail ? id.toLowerCase() : id, error);
    }
    return answers;
  }

  return {
    contactsByEmail: (emails, signal) => readInChunks(emails, BATCH_READ_MAX, (chunk) => readChunk(chunk, true, signal)),
    // Ids are numeric in HubSpot; anything else cannot exist, so it costs no request.
    contactsById: (ids, signal) =>
      readInChunks(
        ids,
        BATCH_READ_MAX,
        (chunk) => readChunk(chunk, false, signal),
        (id) => NUMERIC_ID.test(id),
      ),
  };
}

/** A SimplePublicObject as our model; throws bad_response when it is not one. */
function toContact(result: unknown, extras: readonly string[]): CrmContact {
  const object = result as { id?: unknown; properties?: unknown; createdAt?: unknown; updatedAt?: unknown } | null;
  if (typeof object?.id !== 'string' || typeof object.properties !== 'object' || object.properties === null) {
    throw malformed(WHAT, 'a result without id or properties');
  }
  const createdAt = validDate(object.createdAt);
  const updatedAt = validDate(object.updatedAt);
  if (!createdAt || !updatedAt) throw malformed(WHAT, 'a result without valid createdAt/updatedAt');
  const p = object.properties as Record<string, unknown>;
  return {
    id: object.id,
    email: text(p.email)?.toLowerCase() ?? null,
    firstName: text(p.firstname),
    lastName: text(p.lastname),
    phone: text(p.phone),
    company: text(p.company),
    jobTitle: text(p.jobtitle),
    lifecycleStage: text(p.lifecyclestage),
    leadStatus: text(p.hs_lead_status),
    ownerId: text(p.hubspot_owner_id),
    city: text(p.city),
    state: text(p.state),
    zip: text(p.zip),
    country: text(p.country),
    createdAt,
    updatedAt,
    properties: Object.fromEntries(extras.map((name) => [name, text(p[name])])),
  };
}
