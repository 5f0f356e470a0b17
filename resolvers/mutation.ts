import type { MutationResolvers } from './generated/types.ts';

export const Mutation: MutationResolvers = {
  forgetCustomer: async (_, { email }, { cache }) => ({
    email: email.trim().toLowerCase(),
    cacheKeysCleared: await cache.forgetPerson(email),
  }),
};
