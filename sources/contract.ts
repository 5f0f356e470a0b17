import type { SourceName } from './errors.ts';

/**
 * One thing a source's contract check found missing or wrong, in words a person can act on
 * ("the warehouse has no table web.product_removed: cart removals read as none until the first
 * Product Removed event creates it"). Never a key, a value or a secret.
 */
export interface ContractFinding {
  readonly source: SourceName;
  /**
   * `error`: the source cannot answer as configured (a missing customers view, a refused token);
   * `warning`: it answers, with less or slower (a missing event table or column, an email lookup
   * that would scan the whole table).
   */
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/** What a source offers to the start-up check and to readiness. */
export interface ContractCheck {
  /**
   * Reads the upstream's own description of itself (catalog, token scopes, audience) and compares
   * it with what the source needs. Resolves with the findings (empty when all is well); rejects
   * only when the upstream cannot be reached at all (a SourceError).
   */
  checkContract(): Promise<ContractFinding[]>;
}
