import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { exposedNames, startObservedServer, type ObservedServer } from './support.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

let server: ObservedServer;
let exposed: Set<string>;

beforeAll(async () => {
  server = await startObservedServer();
  await server.query('query Warmup { customer(id: "1") { id crm { lifecycleStage } emailMarketing { status } } }');
  exposed = exposedNames((await server.scrape()).text);
});
afterAll(async () => {
  await server?.close();
});

/** Metric names in a PromQL expression: every identifier of our own, HTTP or of the process collector. */
function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\b(?:c360|process|nodejs|http_server)_[a-z0-9_]+\b/g) ?? [])];
}

/** Prometheus' own series about the scrape, which no target exposes. */
const SCRAPE_SERIES = /^up\{/;

/** Brackets balance and quotes close: a cheap guard (promtool checks the rules fully in .ci/run). */
function balanced(expr: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  let quoted = false;
  for (const char of expr) {
    if (char === '"') quoted = !quoted;
    if (quoted) continue;
    if ('([{'.includes(char)) stack.push(char);
    else if (char in pairs && stack.pop() !== pairs[char]) return false;
  }
  return stack.length === 0 && !quoted;
}

describe('Prometheus alert rules (ops/prometheus/alerts.yml)', () => {
  const rules: Rule[] = (parse(read('ops/prometheus/alerts.yml')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap((g) => g.rules);

  it('alert on source error rate, p99 over budget, an open breaker, a cache hit ratio drop, a down target and the GraphQL error ratio', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'Customer360SourceErrorRate',
        'Customer360OperationP99OverBudget',
        'Customer360BreakerOpen',
        'Customer360CacheHitRatioDrop',
        'Customer360TargetDown',
        'Customer360GraphQLErrorRatio',
      ]),
    );
    for (const rule of rules) {
      expect(rule.labels?.severity, rule.alert).toMatch(/^(info|warning|critical)$/);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.for ?? '0m', rule.alert).toMatch(/^\d+[smh]$/);
    }
  });

  it('name only metrics that /metrics exposes, in well-formed expressions', () => {
    for (const rule of rules) {
      expect(balanced(rule.expr), rule.alert).toBe(true);
      const names = metricNames(rule.expr);
      if (!SCRAPE_SERIES.test(rule.expr)) expect(names.length, rule.alert).toBeGreaterThan(0);
      for (const name of names) expect(exposed, `${rule.alert} names ${name}`).toContain(name);
    }
  });

  it('link each runbook they name to a section of a docs page', () => {
    // GitHub's anchors: the heading lower-cased, punctuation dropped, spaces to dashes.
    const anchors = (page: string) =>
      new Set(
        [...read(page).matchAll(/^#+ (.+)$/gm)].map((m) =>
          m[1]!
            .toLowerCase()
            .replace(/[^\w\- ]/g, '')
            .replace(/ /g, '-'),
        ),
      );
    const linked = rules.filter((rule) => rule.annotations?.runbook_url);
    expect(linked.map((rule) => rule.alert)).toEqual(expect.arrayContaining(['Customer360TargetDown', 'Customer360GraphQLErrorRatio']));
    for (const rule of linked) {
      const [page, anchor] = rule.annotations!.runbook_url!.split('#');
      expect(page, rule.alert).toMatch(/^docs\/[\w-]+\.md$/);
      expect(anchors(page!), rule.alert).toContain(anchor);
    }
  });

  it('are loaded by the Prometheus configuration that scrapes /metrics', () => {
    const config = parse(read('ops/prometheus/prometheus.yml')) as { rule_files: string[]; scrape_configs: Array<{ metrics_path: string }> };
    expect(config.rule_files).toContain('/etc/prometheus/alerts.yml');
    expect(config.scrape_configs[0]!.metrics_path).toBe('/metrics');
  });
});

describe('Grafana dashboard (ops/grafana/dashboards/customer-360.json)', () => {
  const dashboard = JSON.parse(read('ops/grafana/dashboards/customer-360.json')) as {
    uid: string;
    panels: Array<{ id: number; type: string; title: string; targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ name: string; definition?: string }> };
  };
  const exprs = [
    ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: panel.title, expr: target.expr }))),
    ...dashboard.templating.list.filter((v) => v.definition).map((v) => ({ where: `variable ${v.name}`, expr: v.definition! })),
  ];

  it('has panels for operations, sources, breakers, the cache and the process', () => {
    expect(dashboard.uid).toBe('customer-360');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const all = exprs.map((e) => e.expr).join('\n');
    for (const name of ['c360_graphql_operations_total', 'c360_source_calls_total', 'c360_breaker_state', 'c360_cache_lookups_total', 'process_cpu_seconds_total']) {
      expect(all).toContain(name);
    }
  });

  it('queries only metrics that /metrics exposes', () => {
    expect(exprs.length).toBeGreaterThan(10);
    for (const { where, expr } of exprs) {
      expect(balanced(expr), where).toBe(true);
      const names = metricNames(expr);
      expect(names.length, where).toBeGreaterThan(0);
      for (const name of names) expect(exposed, `${where} names ${name}`).toContain(name);
    }
  });

  it('is provisioned from the folder the compose file mounts', () => {
    const provider = parse(read('ops/grafana/provisioning/dashboards/customer-360.yml')) as { providers: Array<{ options: { path: string } }> };
    expect(provider.providers[0]!.options.path).toBe('/var/lib/grafana/dashboards');
  });
});
