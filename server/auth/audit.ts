import type { ApolloServerPlugin } from '@apollo/server';
import { whenAnswered } from '../after-response.ts';
import type { Context } from '../context.ts';
import { everyRequest } from '../listener.ts';
import { Scope, type Principal } from './scopes.ts';

/** Customer ids listed in one audit line; the count is always exact. */
const MAX_LISTED_CUSTOMERS = 200;

/**
 * What one request read about people: which customers (commerce ids), which fields (schema
 * coordinates), which were masked and which refused. Never a value: no emails, names or arguments.
 */
export class AuditTrail {
  readonly customers = new Set<string>();
  readonly fields = new Set<string>();
  readonly masked = new Set<string>();
  readonly denied = new Set<string>();

  get empty(): boolean {
    return this.fields.size === 0 && this.denied.size === 0;
  }
}

/** The auth part of a request's context: who is calling, and what they read. */
export interface RequestAuth {
  readonly principal: Principal;
  readonly audit: AuditTrail;
  /** Spends `cost` more from the client's budget during execution (an audience plan's upstream calls); rejects with RATE_LIMITED when spent. */
  readonly spend?: (cost: number) => Promise<void>;
}

/**
 * Writes one structured line per request that touched personal data (or was refused some):
 * client, the bound customer or visitor, customer ids, field coordinates, masked and denied fields. The request id and operation
 * name come with it, so the line can be joined with the error log.
 */
export function auditLogging(): ApolloServerPlugin<Context> {
  return everyRequest({
    async willSendResponse({ contextValue, operationName }) {
      whenAnswered(contextValue, () => writeAuditLine(contextValue, operationName));
    },
  });
}

/** The audit line of one request (or one subscription event, server/subscriptions), when it touched personal data. */
export function writeAuditLine({ auth, log }: Pick<Context, 'auth' | 'log'>, operationName: string | null | undefined): void {
  const { principal, audit } = auth;
  // Built only to be written: below info level the line would be dropped after its arrays were made.
  if (audit.empty || !log.isLevelEnabled('info')) return;
  const customerIds = [...audit.customers];
  log.info(
    {
      audit: {
        client: principal.client,
        kind: principal.kind,
        ...(principal.customerId && { boundCustomerId: principal.customerId }),
        // A visitor token's browser (an analytics id, as customer ids are commerce ids); a
        // customer token's session browser is not written next to its customer id.
        ...(principal.scopes.has(Scope.Visitor) && principal.anonymousId && { boundAnonymousId: principal.anonymousId }),
        operationName,
        customerIds: customerIds.slice(0, MAX_LISTED_CUSTOMERS),
        customerCount: customerIds.length,
        fields: [...audit.fields].sort(),
        ...(audit.masked.size > 0 && { masked: [...audit.masked].sort() }),
        ...(audit.denied.size > 0 && { denied: [...audit.denied].sort() }),
      },
    },
    'personal data access',
  );
}
