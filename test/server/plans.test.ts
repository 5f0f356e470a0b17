import { getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { costPlan, operationCost } from '../../server/auth/cost.ts';
import { DEFAULT_LIMITS } from '../../server/auth/limits.ts';
import { plansBuilt } from '../../server/plan.ts';
import { buildSchema } from '../../server/schema.ts';
import type { DemoWorld } from '../../sandbox/demo/people.ts';
import { TEST_AS_OF } from '../support/database.ts';
import { useDemoServer } from '../support/server.ts';

const world: DemoWorld = { seed: 360, customers: 20, asOf: TEST_AS_OF };
const demo = useDemoServer(world);

/** Plans built so far by the checks before execution (server/auth/limits.ts, server/argument-checks.ts). */
const built = () => ({ limits: plansBuilt('operation limits'), arguments: plansBuilt('argument checks') });
const since = (before: ReturnType<typeof built>) => {
  const now = built();
  return { limits: now.limits - before.limits, arguments: now.arguments - before.arguments };
};

const ONE = 'query One($id: ID!) { customer(id: $id) { id commerce { purchases { orderCount } } } }';
const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: customer(id: "${i + 1}") { id }`).join(' ')} }`;

describe('checks before execution, planned once per document', () => {
  it('plans a repeated document once and a different document anew', async () => {
    const before = built();
    const first = await demo.server.query(ONE, { id: '1' });
    expect(first.body.errors).toBeUndefined();
    expect(first.body.data.customer.id).toBe('1');
    expect(since(before)).toEqual({ limits: 1, arguments: 1 });

    const again = await demo.server.query(ONE, { id: '2' });
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data.customer.id).toBe('2');
    expect(since(before)).toEqual({ limits: 1, arguments: 1 });

    const other = await demo.server.query('query Other($id: ID!) { customer(id: $id) { id } }', { id: '1' });
    expect(other.body.data).toEqual({ customer: { id: '1' } });
    expect(since(before)).toEqual({ limits: 2, arguments: 2 });
  });

  it("checks each request's own variables against the plan: a bad id is refused before any SQL, the plan reused", async () => {
    await demo.server.query(ONE, { id: '3' });
    const before = built();
    demo.server.reset();
    const bad = await demo.server.query(ONE, { id: 'not-a-number' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })]);
    expect(demo.server.statements).toEqual([]);
    const good = await demo.server.query(ONE, { id: '3' });
    expect(good.body.data.customer.id).toBe('3');
    expect(since(before)).toEqual({ limits: 0, arguments: 0 });
  });

  it('refuses a document over a limit on every request, from one plan', async () => {
    const before = built();
    for (let i = 0; i < 2; i++) {
      const refused = await demo.server.query(aliases(DEFAULT_LIMITS.maxAliases + 5));
      expect(refused.status).toBe(400);
      expect(refused.body).toEqual({
        errors: [
          {
            message: `Aliases limit of ${DEFAULT_LIMITS.maxAliases} exceeded, found ${DEFAULT_LIMITS.maxAliases + 5}.`,
            extensions: { code: 'OPERATION_LIMIT_EXCEEDED', limit: 'aliases' },
          },
        ],
      });
    }
    expect(since(before).limits).toBe(1);
  });
});

describe('costPlan', () => {
  const schema = buildSchema();
  const planOf = (query: string) => {
    const document = parse(query);
    const operation = getOperationAST(document)!;
    return {
      plan: costPlan(schema, document, operation, DEFAULT_LIMITS),
      cost: (variables: Record<string, unknown>) => operationCost(schema, document, operation, variables, DEFAULT_LIMITS),
    };
  };
  const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

  it('costs an operation whose lists are sized by literals as operationCost does, whatever its variables', () => {
    const { plan, cost } = planOf(
      'query($id: ID!) { customer(id: $id) { id web { topCategories(first: 3) { category } } commerce { orders(first: 7) { edges { node { id } } } } } }',
    );
    expect(plan({ id: '1' })).toBe(cost({ id: '1' }));
    expect(plan({ id: '2' })).toBe(cost({ id: '1' }));
  });

  it('costs an operation sized by a variable with each call’s variables', () => {
    const { plan, cost } = planOf('query($ids: [ID!], $n: Int) { customers(ids: $ids) { id web { topCategories(first: $n) { category } } } }');
    for (const variables of [{ ids: ids(1), n: 1 }, { ids: ids(50), n: 1 }, { ids: ids(50), n: 10 }, { ids: ids(3) }]) {
      expect(plan(variables)).toBe(cost(variables));
    }
    expect(plan({ ids: ids(50), n: 10 })).toBeGreaterThan(plan({ ids: ids(1), n: 1 }));
  });
});
