import { describe, expect, it } from 'vitest';
import { TEST_AS_OF } from '../support/database.ts';
import { useDemoServer } from '../support/server.ts';

const demo = useDemoServer({ seed: 360, customers: 5, asOf: TEST_AS_OF });

async function post(body: string, accept = 'application/json') {
  const response = await fetch(`${demo.server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body });
  return {
    status: response.status,
    cacheControl: response.headers.get('cache-control'),
    etag: response.headers.get('etag'),
    body: (await response.json()) as { data?: unknown; errors?: unknown[] },
  };
}

// server/app.ts sets it itself, without Apollo's per-field cache-control plugin: the schema gives no cache hints.
describe('Cache-Control on GraphQL responses', () => {
  it('is no-store on every answer: data, partial data, a validation error, a parse error', async () => {
    const answers = {
      data: await post(JSON.stringify({ query: '{ customer(id: "1") { id } }' })),
      // HubSpot and Mailchimp are not configured in the test server: their fields fail.
      partial: await post(JSON.stringify({ query: '{ customer(id: "1") { id crm { lifecycleStage } } }' })),
      invalid: await post(JSON.stringify({ query: '{ customer(id: "1") { nope } }' }), 'application/graphql-response+json'),
      unparsable: await post(JSON.stringify({ query: '{ customer(' }), 'application/graphql-response+json'),
    };
    expect(answers.data.body.errors).toBeUndefined();
    expect(answers.partial.body.errors).toHaveLength(1);
    expect([answers.invalid.status, answers.unparsable.status]).toEqual([400, 400]);
    // Nor an ETag: nothing would ever revalidate an answer that may not be stored.
    for (const [name, { cacheControl, etag }] of Object.entries(answers)) expect({ name, cacheControl, etag }).toEqual({ name, cacheControl: 'no-store', etag: null });
  });
});
