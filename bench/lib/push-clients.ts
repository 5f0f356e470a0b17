import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

// The subscribers of bench/push.ts's idle-cost part, in a process of their own (forked with IPC)
// so their memory and CPU are not the server's. Told `{ open: { url, connections, perConnection,
// ids } }`, it opens `connections` WebSockets with `perConnection` `customerChanged` subscriptions
// each (ids taken in turn from `ids`), and answers `{ opened, errors }` once every connection is
// acknowledged and a settling pause has passed; `{ count: true }` answers the events received so
// far; `{ close: true }` closes everything and exits.

const QUERY = 'subscription Idle($id: ID!) { customerChanged(id: $id) { kinds customer { commerce { purchases { orderCount } } } } }';
/** Connections opened at once (each one's handshake is an HTTP upgrade and a connection_init). */
const OPENING = 50;
/** After the last subscribe: the server checks each one before it listens. */
const SETTLE_MS = 3000;

interface Open {
  readonly url: string;
  readonly connections: number;
  readonly perConnection: number;
  readonly ids: readonly string[];
}

const clients: Client[] = [];
const counts = { opened: 0, errors: 0, events: 0, completed: 0, closed: 0 };
const errorSamples: string[] = [];

async function open({ url, connections, perConnection, ids }: Open): Promise<void> {
  let next = 0;
  let subscription = 0;
  const one = async () => {
    while (next < connections) {
      next++;
      const client = createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, on: { closed: () => counts.closed++ } });
      clients.push(client);
      await new Promise<void>((resolve, reject) => {
        client.on('connected', () => resolve());
        client.on('closed', (event) => reject(new Error(`connection ${clients.length} closed before it was acknowledged (code ${(event as { code?: number }).code})`)));
      });
      for (let i = 0; i < perConnection; i++) {
        const id = ids[subscription++ % ids.length]!;
        client.subscribe(
          { query: QUERY, variables: { id } },
          {
            next: () => counts.events++,
            error: (error) => {
              counts.errors++;
              if (errorSamples.length < 3) errorSamples.push(JSON.stringify(error).slice(0, 300));
            },
            complete: () => counts.completed++,
          },
        );
        counts.opened++;
      }
    }
  };
  await Promise.all(Array.from({ length: OPENING }, one));
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

process.on('message', (message: { open?: Open; count?: true; close?: true }) => {
  if (message.open) {
    open(message.open).then(
      () => process.send!({ ...counts, errorSamples }),
      (error: Error) => process.send!({ failed: error.message }),
    );
  } else if (message.count) {
    process.send!({ ...counts, errorSamples });
  } else if (message.close) {
    for (const client of clients) void client.dispose();
    // Time for the close frames to go out.
    setTimeout(() => process.exit(0), 500);
  }
});
