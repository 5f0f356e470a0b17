import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../server/config.ts';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Array<{ op: string; args: string }> {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [op, ...rest] = line.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

describe('Dockerfile', () => {
  const steps = instructions(read('Dockerfile'));
  const stages = steps.reduce<Array<Array<{ op: string; args: string }>>>((all, step) => {
    if (step.op === 'FROM') all.push([]);
    all.at(-1)?.push(step);
    return all;
  }, []);
  const runtime = stages.at(-1)!;

  it("builds in stages: compiled in one, production dependencies without the demo's from the lockfile in another", () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    expect(steps.filter((s) => s.op === 'FROM').every((s) => / AS \w+$/i.test(s.args))).toBe(true);
    expect(steps.some((s) => s.op === 'RUN' && s.args === 'npm run build')).toBe(true);
    expect(steps.find((s) => s.op === 'ARG' && s.args.startsWith('OMIT='))?.args).toBe('OMIT="dev optional"');
    expect(steps.some((s) => s.op === 'RUN' && /npm ci\b.*\$OMIT.*--omit=%s/.test(s.args))).toBe(true);
    expect(runtime.some((s) => s.op === 'COPY' && /--from=\w+ .*node_modules/.test(s.args))).toBe(true);
    expect(runtime.some((s) => s.op === 'COPY' && /--from=\w+ \/app\/dist /.test(s.args))).toBe(true);
    expect(runtime.some((s) => s.op === 'RUN' && /npm (ci|install)/.test(s.args))).toBe(false);
  });

  it('leaves out of the runtime only packages the compiled server imports when the demo runs', () => {
    const manifest = JSON.parse(read('package.json')) as { optionalDependencies: Record<string, string> };
    expect(Object.keys(manifest.optionalDependencies).sort()).toEqual(['@electric-sql/pglite', '@electric-sql/pglite-socket', '@faker-js/faker']);
    // Types alone are erased by the compiler; a value import would load the demo's packages.
    expect(read('server/main.ts')).not.toMatch(/^import (?!type ).*sandbox\//m);
  });

  it('runs as a non-root user, with a health check on /healthz', () => {
    const users = runtime.filter((s) => s.op === 'USER').map((s) => s.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    const healthcheck = runtime.find((s) => s.op === 'HEALTHCHECK');
    expect(healthcheck?.args).toMatch(/CMD .*\/healthz/);
    expect(runtime.find((s) => s.op === 'CMD')?.args).toContain('"dist/server/main.js"]');
    expect(runtime.find((s) => s.op === 'ENV')?.args).toMatch(/HOST=0\.0\.0\.0/);
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    const copied = steps.filter((s) => s.op === 'COPY' && !s.args.startsWith('--from')).flatMap((s) => s.args.split(/\s+/).slice(0, -1));
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'build.ts', 'schema', 'server', 'sources', 'sandbox']));
    for (const path of copied) {
      expect(existsSync(new URL(path, root)), path).toBe(true);
      expect(ignored, path).not.toContain(path);
    }
    for (const path of ['node_modules', '.git', 'test', '.env']) expect(ignored).toContain(path);
  });
});

describe('compose.yaml', () => {
  const compose = parse(read('compose.yaml')) as {
    services: Record<
      string,
      {
        build?: unknown;
        image?: string;
        profiles?: string[];
        environment?: Record<string, string>;
        depends_on?: Record<string, { condition: string }> | string[];
        healthcheck?: { test: string[] | string };
        volumes?: string[];
      }
    >;
  };
  const { server, postgres, redis } = compose.services;

  it('runs the server with PostgreSQL and Redis, each with a health check', () => {
    expect(server?.build).toBe('.');
    expect(postgres?.image).toMatch(/^postgres:/);
    expect(redis?.image).toMatch(/^redis:/);
    for (const [name, service] of Object.entries(compose.services)) expect(service.healthcheck?.test, name).toBeTruthy();
    expect(server?.depends_on).toEqual({ postgres: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    expect(JSON.stringify(server?.healthcheck?.test)).toContain('/healthz');
  });

  it('wires the server to them through settings the server accepts', () => {
    const env = server!.environment!;
    expect(env.DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
    expect(env.REDIS_URL).toBe('redis://redis:6379');
    expect(env.HOST).toBe('0.0.0.0');
    // Every variable is one the configuration knows, and the whole set, with compose's defaults
    // filled in, passes its validation.
    const known = new Set([...read('server/config.ts').matchAll(/^\s+([A-Z][A-Z0-9_]+): z\b/gm)].map((m) => m[1]!));
    for (const name of Object.keys(env)) expect(known, name).toContain(name);
    const resolved = Object.fromEntries(Object.entries(env).map(([name, value]) => [name, String(value).replace(/\$\{(\w+):-([^}]*)\}/g, (_, _v, fallback: string) => fallback)]));
    expect(() => loadConfig(resolved)).not.toThrow();
  });

  it('creates the commerce tables in the bundled PostgreSQL', () => {
    expect(postgres?.volumes).toContain('./sources/commerce/schema.sql:/docker-entrypoint-initdb.d/10-commerce.sql:ro');
  });

  it('keeps Prometheus and Grafana in an optional profile, mounting the files in ops/', () => {
    for (const name of ['prometheus', 'grafana']) expect(compose.services[name]?.profiles).toEqual(['observability']);
    const mounted = [...(compose.services.prometheus?.volumes ?? []), ...(compose.services.grafana?.volumes ?? [])].map((v) => v.split(':')[0]!);
    for (const path of mounted) expect(existsSync(new URL(path, root)), path).toBe(true);
  });
});
