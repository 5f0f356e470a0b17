import type { CachedSource as CachedSourceModel, ForgetFailure as ForgetFailureModel } from '../cache/invalidation.ts';
import { CODE_OF_KIND } from './errors.ts';
import type { CachedSource, ForgetFailure, MutationResolvers } from './generated/types.ts';

const enumOf = (source: CachedSourceModel): CachedSource => source.toUpperCase() as CachedSource;

function failure(failed: ForgetFailureModel): ForgetFailure {
  return {
    source: enumOf(failed.source),
    step: failed.step === 'lookup' ? 'LOOKUP' : 'EVICTION',
    code: failed.step === 'eviction' ? 'CACHE_UNAVAILABLE' : CODE_OF_KIND[failed.kind ?? 'unavailable'],
    retryable: failed.retryable,
  };
}

export const Mutation: MutationResolvers = {
  forgetCustomer: async (_, { email }, { cache }) => {
    const report = await cache.forgetPerson(email);
    return {
      email: report.email,
      cacheKeysCleared: report.keysCleared,
      cleared: report.cleared.map(enumOf),
      failed: report.failed.map(failure),
    };
  },
};
