import { describe, expect, it } from 'vitest';
import { SourceError } from '../../sources/errors.ts';
import { basePathOf, createMailchimpClient } from '../../sources/mailchimp/client.ts';
import { EMAIL_STATUSES, canEmail, createMailchimpSource, subscriberHash, type MarketingPermission } from '../../sources/mailchimp/index.ts';

const permission = (enabled: boolean): MarketingPermission => ({ id: 'p', text: 'Email', enabled });

describe('subscriberHash', () => {
  it('is the MD5 hex of the lower-cased email', () => {
    // md5("urist.mcvankab@freddiesjokes.com"), computed independently (Python hashlib).
    expect(subscriberHash('urist.mcvankab@freddiesjokes.com')).toBe('62eeb292278cc15f5817cb78f7790b08');
    expect(subscriberHash(' Urist.McVankab@FreddiesJokes.com ')).toBe('62eeb292278cc15f5817cb78f7790b08');
    expect(subscriberHash('')).toBe('d41d8cd98f00b204e9800998ecf8427e');
  });
});

describe('canEmail', () => {
  const combinations: Array<readonly MarketingPermission[]> = [
    [],
    [permission(true)],
    [permission(false)],
    [permission(true), permission(true)],
    [permission(true), permission(false)],
    [permission(false), permission(false)],
  ];

  it.each(EMAIL_STATUSES.flatMap((status) => combinations.map((marketingPermissions) => ({ status, marketingPermissions }))))(
    'is true only for a subscribed member who withdrew nothing: $status with $marketingPermissions',
    (member) => {
      const expected = member.status === 'subscribed' && member.marketingPermissions.every((p) => p.enabled);
      expect(canEmail(member)).toBe(expected);
    },
  );
});

describe('the Mailchimp client configuration', () => {
  it('takes the datacenter from the API key, unless a server prefix is given', () => {
    expect(basePathOf({ apiKey: 'abc-us21', timeoutMs: 1 })).toBe('https://us21.api.mailchimp.com/3.0');
    expect(basePathOf({ apiKey: 'abc-us21', serverPrefix: 'us6', timeoutMs: 1 })).toBe('https://us6.api.mailchimp.com/3.0');
    expect(basePathOf({ apiKey: 'abc', baseUrl: 'http://127.0.0.1:8080/', timeoutMs: 1 })).toBe('http://127.0.0.1:8080/3.0');
  });

  it('leaves a host containing "server" alone (the SDK would replace it when configured with a server)', () => {
    const client = createMailchimpClient({ apiKey: 'abc-us21', baseUrl: 'http://mock-server.internal:9000', timeoutMs: 1 });
    expect(client.buildUrl('/lists/{list_id}', { list_id: 'L' })).toBe('http://mock-server.internal:9000/3.0/lists/L');
  });

  it('gives each source its own client, leaving the SDK singleton untouched', () => {
    const a = createMailchimpClient({ apiKey: 'a-us1', timeoutMs: 100 });
    const b = createMailchimpClient({ apiKey: 'b-us2', timeoutMs: 200 });
    expect([a.basePath, a.timeout]).toEqual(['https://us1.api.mailchimp.com/3.0', 100]);
    expect([b.basePath, b.timeout]).toEqual(['https://us2.api.mailchimp.com/3.0', 200]);
  });

  it('refuses unusable options with not_configured, never echoing the key', () => {
    const base = { apiKey: 'secretkey', listId: 'L', timeoutMs: 100, retryBudgetMs: 100 };
    for (const options of [base, { ...base, apiKey: '' }, { ...base, listId: '', apiKey: 'k-us1' }, { ...base, apiKey: 'k-us1', maxInFlight: 0 }]) {
      let error: unknown;
      try {
        createMailchimpSource(options);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SourceError);
      expect(error).toMatchObject({ kind: 'not_configured' });
      expect((error as Error).message).not.toContain('secretkey');
    }
  });
});
