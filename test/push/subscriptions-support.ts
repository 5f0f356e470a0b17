import { createClient as createSseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client } from 'graphql-ws';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import type { ChangeFeed, CustomerChange, SignalSource, TriggerEvent, TriggerName } from '../../push/signals.ts';

/** A ChangeFeed in memory, standing in for the hub: the test says what changed. */
export class MemoryFeed implements ChangeFeed {
  private readonly changes = new Map<string | null, Set<(change: CustomerChange) => void>>();
  private readonly triggers = new Set<(event: TriggerEvent) => void>();
  private sequence = 0;

  onChange(customerId: string | null, listener: (change: CustomerChange) => void): () => void {
    const set = this.changes.get(customerId) ?? new Set();
    this.changes.set(customerId, set);
    set.add(listener);
    return () => void set.delete(listener);
  }

  onTrigger(listener: (event: TriggerEvent) => void): () => void {
    this.triggers.add(listener);
    return () => void this.triggers.delete(listener);
  }

  /** Listeners registered now, changes and triggers together. */
  get listeners(): number {
    return [...this.changes.values()].reduce((sum, set) => sum + set.size, 0) + this.triggers.size;
  }

  change(customerId: string, options: { kinds?: string[]; sources?: SignalSource[] } = {}): CustomerChange {
    const change: CustomerChange = {
      customerId,
      sources: options.sources ?? ['commerce'],
      kinds: options.kinds ?? ['customer'],
      signalIds: [`test:${++this.sequence}`],
      receivedAt: Date.parse('2026-11-01T12:00:00Z') + this.sequence,
    };
    for (const listener of [...(this.changes.get(customerId) ?? []), ...(this.changes.get(null) ?? [])]) listener(change);
    return change;
  }

  trigger(trigger: TriggerName, customerId: string, segment?: string, id = `${trigger}:${customerId}:${++this.sequence}`): TriggerEvent {
    const event: TriggerEvent = { id, trigger, customerId, segment, at: '2026-11-01T12:00:00.000Z', receivedAt: Date.now() };
    for (const listener of this.triggers) listener(event);
    return event;
  }

  /**
   * Resolves once `count` listeners are registered (a subscription listens once its operation has
   * started); fails after `timeoutMs` saying how many there are, rather than waiting out the test.
   */
  async until(count: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.listeners !== count) {
      if (Date.now() > deadline) throw new Error(`Expected ${count} feed listeners, ${this.listeners} after ${timeoutMs} ms.`);
      await sleep(5);
    }
  }
}

/** One subscription's results, read one at a time; `done` once the server completed it. */
export interface Results {
  next(): Promise<any>;
  /** The next result, expected to be the end of the subscription. */
  end(): Promise<boolean>;
  close(): Promise<void>;
}

function results(iterator: AsyncIterableIterator<unknown>): Results {
  return {
    next: async () => {
      const { value, done } = await iterator.next();
      if (done) throw new Error('the subscription ended');
      return value;
    },
    end: async () => (await iterator.next()).done === true,
    close: async () => void (await iterator.return?.()),
  };
}

/** A graphql-ws client (the `ws` WebSocket) that does not retry. */
export function wsClient(baseUrl: string, authorization?: string): Client {
  return createWsClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    ...(authorization && { connectionParams: { authorization } }),
  });
}

export function wsSubscribe(client: Client, query: string, variables?: Record<string, unknown>): Results {
  return results(client.iterate({ query, variables }));
}

/** A graphql-sse client (distinct connections) with these headers, subscribing. */
export function sseSubscribe(baseUrl: string, headers: Record<string, string>, query: string, variables?: Record<string, unknown>): Results {
  const client = createSseClient({ url: `${baseUrl}/graphql/stream`, headers, retryAttempts: 0 });
  const inner = results(client.iterate({ query, variables }));
  return { ...inner, close: async () => (await inner.close(), client.dispose()) };
}
