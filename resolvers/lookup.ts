import { isObjectType, Kind, type FragmentDefinitionNode, type GraphQLResolveInfo, type GraphQLSchema, type SelectionSetNode } from 'graphql';
import { effectivePolicy } from '../server/auth/enforce.ts';
import { heldAlternatives } from '../server/auth/policy.ts';
import type { Principal } from '../server/auth/scopes.ts';
import { normalizeEmail } from '../cache/loaders.ts';
import type { Context } from '../server/context.ts';
import type { CommerceCustomer } from '../sources/commerce/model.ts';
import { SourceError } from '../sources/errors.ts';
import type { IdentifiedBy } from './generated/types.ts';
import type { CustomerOfRecord } from './models.ts';

// How a Customer is found: every lookup ends in the shop database, by id or by email. Only loaders
// are called here; what a failure means for each key kind is decided here once, for every root
// field and for Federation's entity references.

type Loaders = Context['loaders'];

/** What a lookup needs to start the sources its query selects early (startByEmail). */
export interface EarlyStart {
  /** The field names the lookup's field selects, two levels down (the customer's fields and theirs), through fragments. */
  readonly selected: ReadonlySet<string>;
  readonly schema: GraphQLSchema;
  /** Who asks: only fields they may read are started. */
  readonly principal: Principal;
}

/** The early start of a lookup field being resolved. */
export function earlyStart(info: GraphQLResolveInfo, principal: Principal): EarlyStart {
  const selected = new Set<string>();
  for (const node of info.fieldNodes) selectedNames(node.selectionSet, info.fragments, selected);
  return { selected, schema: info.schema, principal };
}

/** The field names `set` selects two levels down (a lookup field's selection), through fragments, added to `names`. */
export function selectedNames(set: SelectionSetNode | undefined, fragments: Readonly<Record<string, FragmentDefinitionNode>>, names: Set<string>): void {
  collect(set, fragments, names, 2);
}

/** A customer as the shop database returned it, found by a key of kind `by`. */
export const ofRecord = (customer: CommerceCustomer, by: IdentifiedBy): CustomerOfRecord => ({
  email: customer.email,
  commerce: customer,
  id: customer.id,
  identifiedBy: by,
  sessionAnonymousId: null,
});

/**
 * The customer's shop record. Throws the shop database's error when it could not be read, so the
 * field that needs it (and that field alone) is null with that error.
 */
export function shopRecord(customer: CustomerOfRecord): CommerceCustomer {
  if (customer.commerce instanceof Error) throw customer.commerce;
  return customer.commerce;
}

/**
 * The customer with this shop id; null when the shop database has none. Rejects with the shop
 * database's error when it fails: no other system knows a customer by the shop's id. With `early`,
 * the selected sources keyed by email start as soon as the shop gives the email, before the
 * customer's fields are resolved (see startByEmail).
 */
export async function customerWithId(loaders: Loaders, id: string, by: IdentifiedBy = 'CUSTOMER_ID', early?: EarlyStart): Promise<CustomerOfRecord | null> {
  const customer = await loaders.customerById.load(id);
  // The customer's fields resolve once the selected sources keyed by email are on their way: the
  // shop's and the warehouse's statements for them, the quicker sources, go after.
  const started = customer && early ? startByEmail(loaders, customer.email, early) : null;
  if (started) await started;
  return customer && ofRecord(customer, by);
}

/**
 * The customer with this email; null when the shop database answers that it has none (a key no
 * system knows is null, and the shop database is the one that says who is a customer). When the
 * shop database fails (a SourceError), a customer known by the email alone, whose shop fields
 * carry that error while the CRM and the email platform answer by the email. Anything else rejects.
 */
export function customerWithEmail(loaders: Loaders, email: string, early?: EarlyStart, by: IdentifiedBy = 'EMAIL'): Promise<CustomerOfRecord | null> {
  const key = normalizeEmail(email);
  if (early) void startByEmail(loaders, key, early);
  return loaders.customerByEmail.load(key).then(
    (customer) => customer && ofRecord(customer, by),
    (error: unknown) => {
      if (error instanceof SourceError) return { email: key, commerce: error, id: null, identifiedBy: by, sessionAnonymousId: null };
      throw error;
    },
  );
}

/**
 * Customer fields (and `identities` fields) answered by a source that is keyed by email, by their
 * coordinate, the slowest first: a Mailchimp member is one GET each (no batch endpoint), so it is
 * started before HubSpot's batch read.
 */
type EmailLoad = (loaders: Loaders, email: string) => Promise<unknown>;
const emailMember: EmailLoad = (loaders, email) => loaders.emailMember.load(email);
const crmContact: EmailLoad = (loaders, email) => loaders.crmContactByEmail.load(email);
const BY_EMAIL: ReadonlyArray<{ readonly type: string; readonly field: string; readonly load: EmailLoad }> = [
  { type: 'Customer', field: 'emailMarketing', load: emailMember },
  { type: 'Identities', field: 'mailchimpSubscriberHash', load: emailMember },
  { type: 'Customer', field: 'crm', load: crmContact },
  { type: 'Identities', field: 'hubspotContactId', load: crmContact },
];

/**
 * Starts the selected sources that know the person by email: for a lookup by email, beside the
 * shop lookup instead of after it, so a slow or hanging shop database costs those sources nothing
 * of the request's budget; for a lookup by id, the moment the shop gives the email. Only fields the
 * principal may read are started (a refused field reads nothing). The loads land in the request's
 * loaders, where the field resolvers find them; their outcome is the fields' business.
 *
 * The slowest source (BY_EMAIL's first) starts now and the others one turn of the event loop
 * later. A request is written to its connection in a process.nextTick, which runs only once the
 * promise jobs queued before it are done, and HubSpot's SDK builds its request in many of them:
 * started together, the slowest request would leave after HubSpot's. Every lookup of the request
 * that starts in one turn shares the later one, so a page's keys still leave in one batch per
 * source. Resolves once every selected source has started; null when none is selected.
 */
export function startByEmail(loaders: Loaders, email: string, { selected, schema, principal }: EarlyStart): Promise<void> | null {
  const loads: EmailLoad[] = [];
  for (const { type, field, load } of BY_EMAIL) {
    if (selected.has(field) && !loads.includes(load) && mayRead(schema, principal, type, field)) loads.push(load);
  }
  const start = (load: EmailLoad) => {
    try {
      load(loaders, email).catch(() => undefined);
    } catch {
      // A load that throws at once throws again for the field's resolver, which answers with it.
    }
  };
  const [first, ...rest] = loads;
  if (!first) return null;
  start(first);
  return nextTurn(loaders, () => rest.forEach(start));
}

/** The starts one request left for the next turn of the event loop, and when that turn has run them. */
const turns = new WeakMap<Loaders, { readonly starts: Array<() => void>; readonly done: Promise<void> }>();

/** Runs `start` in the request's next turn of the event loop, with every other start left for it. */
function nextTurn(loaders: Loaders, start: () => void): Promise<void> {
  let turn = turns.get(loaders);
  if (!turn) {
    const starts: Array<() => void> = [];
    const done = new Promise<void>((resolve) =>
      setImmediate(() => {
        turns.delete(loaders);
        for (const run of starts) run();
        resolve();
      }),
    );
    turn = { starts, done };
    turns.set(loaders, turn);
  }
  turn.starts.push(start);
  return turn.done;
}

/** Whether the principal passes the field's own policy (a field without one is read under its parent's, already checked). */
export function mayRead(schema: GraphQLSchema, principal: Principal, typeName: string, fieldName: string): boolean {
  const type = schema.getType(typeName);
  const field = isObjectType(type) ? type.getFields()[fieldName] : undefined;
  if (!type || !isObjectType(type) || !field) return false;
  const policy = effectivePolicy(schema, type, field);
  return policy === null || heldAlternatives(policy, principal).length > 0;
}

/** Field names selected down to `depth` levels, through fragments. */
function collect(set: SelectionSetNode | undefined, fragments: Readonly<Record<string, FragmentDefinitionNode>>, names: Set<string>, depth: number): void {
  if (!set || depth === 0) return;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      names.add(selection.name.value);
      collect(selection.selectionSet, fragments, names, depth - 1);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      collect(selection.selectionSet, fragments, names, depth);
    } else {
      collect(fragments[selection.name.value]?.selectionSet, fragments, names, depth);
    }
  }
}
