import { describe, expect, it } from 'vitest';
import { CENSOR, createLogger } from '../../server/logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('the logger', () => {
  it('censors secret keys at the top of a line and one level below, and leaves the rest as given', () => {
    const { logger, lines } = capture();
    const customer = { id: 'c1', email: 'amparo@example.com', emails: ['a@example.com'] };
    const given = { email: 'x@example.com', apiKey: 'k', customer, source: { token: 't', password: 'p', kind: 'auth' }, list: [{ email: 'deeper@example.com' }] };
    logger.info(given, 'line');
    expect(lines[0]).toMatchObject({
      msg: 'line',
      email: CENSOR,
      apiKey: CENSOR,
      customer: { id: 'c1', email: CENSOR, emails: CENSOR },
      source: { token: CENSOR, password: CENSOR, kind: 'auth' },
      // Two levels down is not a path the rules name; values are not logged there in the first place.
      list: [{ email: 'deeper@example.com' }],
    });
    expect(customer.email).toBe('amparo@example.com');
    expect(given.email).toBe('x@example.com');
  });

  it('censors the credential headers of a logged request', () => {
    const { logger, lines } = capture();
    logger.info({ req: { method: 'POST', headers: { authorization: 'Bearer secret', cookie: 's=1', 'x-request-id': 'r1' } } }, 'request');
    expect(lines[0]!.req).toEqual({ method: 'POST', headers: { authorization: CENSOR, cookie: CENSOR, 'x-request-id': 'r1' } });
  });

  it('serializes an error that carries a secret, then censors it', () => {
    const { logger, lines } = capture();
    logger.warn({ err: Object.assign(new Error('member not found'), { email: 'amparo@example.com', status: 404 }) }, 'failed');
    expect(lines[0]!.err).toMatchObject({ type: 'Error', message: 'member not found', email: CENSOR, status: 404 });
    expect(JSON.stringify(lines[0])).not.toContain('amparo@example.com');
  });

  it('censors a child logger bindings, and writes a line without secrets unchanged', () => {
    const { logger, lines } = capture();
    logger.child({ requestId: 'r1', token: 'secret' }).info({ operationName: 'Personalization', sources: [{ source: 'hubspot', status: 'live' }] }, 'graphql request');
    expect(lines[0]).toMatchObject({ service: 'customer-360', requestId: 'r1', token: CENSOR, operationName: 'Personalization', sources: [{ source: 'hubspot', status: 'live' }] });
  });
});
