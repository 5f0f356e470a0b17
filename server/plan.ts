import type { DocumentNode, GraphQLSchema } from 'graphql';

/**
 * What the checks before execution derive from a document alone (its shape against the limits,
 * its cost where no variable sizes a list, the fields that have argument checks), computed once
 * per document and reused, so a repeated operation pays only for what depends on its variables
 * and on who is calling. Apollo Server keeps parsed and validated documents in its document store
 * (an LRU keyed by the query's hash), so the same query text brings back the same DocumentNode:
 * a plan keyed by that object lives exactly as long as Apollo keeps the document. A document
 * Apollo does not keep (a subscription's, parsed per subscribe) gets a plan of its own each time.
 */
export class DocumentPlans<T> {
  private readonly plans = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, T>>();

  /**
   * @param name what the plans are for; `plansBuilt` counts by it.
   * @param build derives the plan from the schema and the document only: never from a request.
   */
  constructor(
    private readonly name: string,
    private readonly build: (schema: GraphQLSchema, document: DocumentNode) => T,
  ) {}

  /** The plan of `document` against `schema`, built on first use. */
  of(schema: GraphQLSchema, document: DocumentNode): T {
    let bySchema = this.plans.get(schema);
    if (!bySchema) {
      bySchema = new WeakMap();
      this.plans.set(schema, bySchema);
    }
    let plan = bySchema.get(document);
    if (plan === undefined) {
      plan = this.build(schema, document);
      bySchema.set(document, plan);
      built.set(this.name, (built.get(this.name) ?? 0) + 1);
    }
    return plan;
  }
}

const built = new Map<string, number>();

/** Plans built in this process under `name`: a repeated document builds none (tests count this rather than time requests). */
export function plansBuilt(name: string): number {
  return built.get(name) ?? 0;
}
