import type { Client } from '@hubspot/api-client';
import type { ContractFinding } from '../contract.ts';
import { SourceError } from '../errors.ts';
import type { Caller } from './caller.ts';

/** The private-app scopes the CRM source reads with, and what each one serves. */
export const NEEDED_SCOPES = {
  'crm.objects.contacts.read': 'contacts, and so every CRM field',
  'crm.objects.companies.read': "a contact's company",
  'crm.objects.owners.read': "a contact's owner",
  'crm.schemas.contacts.read': 'the readiness check (contact property definitions)',
} as const;

// HubSpot's private-app token introspection: POST { tokenKey } answers { userId, hubId, appId,
// scopes }. It needs no scope itself; the Bearer header is required for EU-hosted tokens.
const TOKEN_INFO_PATH = '/oauth/v2/private-apps/get/access-token-info';

const finding = (severity: ContractFinding['severity'], message: string): ContractFinding => ({ source: 'crm', severity, message });

/**
 * Asks HubSpot which scopes the configured private-app token holds (one request, through the
 * source's caller, so the rate limit and timeout apply) and names the missing ones in one error.
 * A refused token is an error finding; a token HubSpot will not describe (not a private-app
 * token) a warning. Rejects with the caller's SourceError when HubSpot cannot be reached.
 */
export async function checkTokenScopes(caller: Caller, client: Client, accessToken: string): Promise<ContractFinding[]> {
  let info: unknown;
  try {
    info = await caller.call('token scope check', async () => {
      const response = await client.apiRequest({ method: 'POST', path: TOKEN_INFO_PATH, body: { tokenKey: accessToken } });
      const body: unknown = await response.json().catch(() => undefined);
      // Shaped like the SDK's ApiException, so the caller judges the status as for any other call.
      if (!response.ok) throw Object.assign(new Error(`HTTP ${response.status}`), { code: response.status, body, headers: {} });
      return body;
    });
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    // The caller gives up on 401/403 at once (unavailable, not retryable): the token is refused.
    if (error.kind === 'unavailable' && !error.retryable) {
      return [finding('error', 'HubSpot refuses the configured access token: every CRM field fails until a valid private-app token is configured')];
    }
    if (error.kind === 'bad_response') {
      return [finding('warning', `the token's scopes could not be read (${error.message}); is it a private-app token? Scopes were not checked`)];
    }
    throw error;
  }
  const scopes = (info as { scopes?: unknown } | null)?.scopes;
  if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === 'string')) {
    return [finding('warning', "HubSpot's token description carried no list of scopes: scopes were not checked")];
  }
  const missing = Object.entries(NEEDED_SCOPES).filter(([scope]) => !scopes.includes(scope));
  if (missing.length === 0) return [];
  const named = missing.map(([scope, serves]) => `${scope} (${serves})`).join(', ');
  return [
    finding(
      'error',
      `the HubSpot private app lacks the scopes ${named}: add them under Settings > Integrations > Private Apps > Scopes; ` + 'until then the fields they serve fail',
    ),
  ];
}
