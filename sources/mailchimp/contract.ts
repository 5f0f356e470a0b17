import type { ContractFinding } from '../contract.ts';
import { SourceError } from '../errors.ts';
import type { SdkClient } from './client.ts';
import type { Upstream } from './upstream.ts';

const finding = (message: string): ContractFinding => ({ source: 'email', severity: 'error', message });

/**
 * Reads the configured audience (`GET /lists/{list_id}`, one request within the source's
 * in-flight limit). An audience Mailchimp does not know (404) or a refused key (401/403) is an
 * error finding: every email field would fail. Rejects with SourceError('email') when Mailchimp
 * cannot be reached.
 */
export async function checkAudience(upstream: Upstream, client: SdkClient, listId: string): Promise<ContractFinding[]> {
  let audience: unknown;
  try {
    audience = await upstream.call(() => client.lists.getList(listId, { fields: ['id', 'name'] }));
  } catch (error) {
    // failure.ts makes a refused key `unavailable` and not retryable; an unreachable API stays retryable.
    if (error instanceof SourceError && error.kind === 'unavailable' && !error.retryable) {
      return [finding('Mailchimp rejects the configured API key (or its datacenter suffix): every email field fails until it is replaced')];
    }
    throw error;
  }
  if (audience === null) {
    return [
      finding(
        `audience ${listId} not found in this Mailchimp account: every email field fails until MAILCHIMP_LIST_ID names an audience ` +
          '(Audience > Settings > Audience name and defaults shows its id)',
      ),
    ];
  }
  return [];
}
