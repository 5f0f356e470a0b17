// The personalization query every benchmark measures, declared once (bench/run.ts runs its
// benchmark on import, so the other benchmarks take it from here).

/** The fields the shared cache serves without the web source. */
export const CACHED_FIELDS = `id
    commerce {
      purchases { orderCount totalSpent { amount currencyCode } lastOrderAt }
      rfm { segment }
      abandonedCart { value { amount currencyCode } }
    }
    crm { lifecycleStage }
    emailMarketing { status canEmail }`;
/** The web fields, in a shape the cache keeps (cache/web.ts); kept apart so "no web" rows measure the other sources alone. */
export const PROFILE_FIELDS = `${CACHED_FIELDS}
    web { sessionCount lastSeenAt topCategories(first: 3) { category } }`;
/** What a personalization engine asks on a page render: one customer's traits from every source. */
export const PERSONALIZATION = `query Personalization($id: ID!) {\n  customer(id: $id) {\n    ${PROFILE_FIELDS}\n  }\n}`;

/** The personalization query's request body for one customer. */
export const personalizationBody = (id: string) => JSON.stringify({ query: PERSONALIZATION, variables: { id } });
