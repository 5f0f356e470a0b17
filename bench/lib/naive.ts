import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Sources } from '../../cache/loaders.ts';

/**
 * The naive baseline: the same sources (the same SQL, the same HubSpot and Mailchimp SDK clients),
 * called the way a hand-written aggregation endpoint would call them: customer by customer in a
 * loop, each source asked for that one customer, no batching and no cache. Within one customer the
 * sources are called in parallel (after the shop database has said who the customer is), which is
 * the generous version of naive. POST / with `{ "ids": ["1", ...] }` answers the personalization
 * fields of each customer.
 */
export async function startNaiveServer(sources: Sources): Promise<{ url: string; close(): Promise<void> }> {
  const one = async (id: string) => {
    const [customer] = await sources.commerce.customersById([id]);
    if (!customer || customer instanceof Error) return null;
    const settle = <T>(promise: Promise<T>) => promise.catch(() => null);
    const [purchases, carts, contact, member, web] = await Promise.all([
      settle(sources.commerce.purchaseStats([id]).then(async ([stats]) => ({ stats, rfm: (await sources.commerce.rfmScores([stats!]))[0] ?? null }))),
      settle(sources.commerce.customerCarts([id]).then(([carts]) => carts ?? null)),
      settle(sources.crm.contactsByEmail([customer.email]).then(([contact]) => (contact instanceof Error ? null : contact))),
      settle(sources.email.membersByEmail([customer.email]).then(([member]) => (member instanceof Error ? null : member))),
      settle(
        Promise.all([
          sources.web.summaries([{ userId: id, anonymousId: null, days: 30 }]),
          sources.web.topCategories([{ userId: id, anonymousId: null, days: 30, first: 3 }]),
        ]).then(([[summary], [categories]]) => ({ summary, categories })),
      ),
    ]);
    return { id, purchases, carts, contact, member, web };
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the handler catches its own errors and answers 500
    req.on('end', async () => {
      try {
        const { ids } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { ids: string[] };
        const out = [];
        for (const id of ids) out.push(await one(id));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: out }));
      } catch {
        res.writeHead(500).end('{"errors":[{"extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
