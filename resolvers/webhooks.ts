import { GraphQLError } from 'graphql';
import type { DeadLetter, Endpoint, OutgoingWebhooks } from '../push/webhooks/index.ts';
import type { Context } from '../server/context.ts';
import { pageSize } from './arguments.ts';
import { ErrorCode } from './errors.ts';
import type { MutationResolvers, QueryResolvers, WebhookDeadLetter, WebhookEndpoint } from './generated/types.ts';

function webhooksOf(context: Context): OutgoingWebhooks {
  // A server started without a change feed (tests, embedding) delivers no webhooks.
  if (!context.webhooks) throw new GraphQLError('Outgoing webhooks are not enabled on this server.', { extensions: { code: ErrorCode.BadUserInput } });
  return context.webhooks;
}

function endpointOf(endpoint: Endpoint): WebhookEndpoint {
  return {
    id: endpoint.id,
    url: endpoint.url,
    triggers: [...endpoint.triggers],
    selection: endpoint.selection,
    scopes: [...endpoint.scopes],
    description: endpoint.description,
    createdAt: new Date(endpoint.createdAt),
    secretRotatedAt: new Date(endpoint.secretRotatedAt),
    disabledAt: endpoint.disabledAt === null ? null : new Date(endpoint.disabledAt),
  };
}

function deadLetterOf(letter: DeadLetter): WebhookDeadLetter {
  return {
    id: letter.id,
    endpointId: letter.job.endpointId,
    webhookId: letter.job.webhookId,
    trigger: letter.job.event.trigger,
    customerId: letter.job.event.customerId,
    attempts: letter.attempts,
    reason: letter.reason,
    failedAt: new Date(letter.failedAt),
  };
}

export const WebhookQuery: Pick<QueryResolvers, 'webhookEndpoints' | 'webhookDeadLetters'> = {
  webhookEndpoints: async (_, __, context) => (await webhooksOf(context).list()).map(endpointOf),
  webhookDeadLetters: async (_, { endpointId, first }, context) => (await webhooksOf(context).deadLetters(endpointId, pageSize(first, 100))).map(deadLetterOf),
};

export const WebhookMutation: Pick<MutationResolvers, 'registerWebhookEndpoint' | 'rotateWebhookSecret' | 'removeWebhookEndpoint' | 'replayWebhookDeadLetter'> = {
  registerWebhookEndpoint: async (_, { input }, context) => {
    const { endpoint, secret } = await webhooksOf(context).register(input);
    return { endpoint: endpointOf(endpoint), secret };
  },
  rotateWebhookSecret: async (_, { id }, context) => {
    const { endpoint, secret } = await webhooksOf(context).rotateSecret(id);
    return { endpoint: endpointOf(endpoint), secret };
  },
  removeWebhookEndpoint: (_, { id }, context) => webhooksOf(context).remove(id),
  replayWebhookDeadLetter: (_, { id }, context) => webhooksOf(context).replay(id),
};
