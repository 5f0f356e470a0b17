import { describe, expect, it } from 'vitest';
import { mask } from '../../server/auth/masking.ts';

describe('masks for analysts without customer:read:pii', () => {
  it.each([
    ['email', 'jane.doe.12@example.com', 'j***@example.com'],
    ['name', 'élodie', 'É.'],
    ['initial', 'San Francisco', 'S***'],
    ['phone', '+1 (415) 555-0142', '***42'],
    ['postal', '94107', '94***'],
    ['coordinate', 37.7749, 38],
    ['ip', '203.0.113.57', '203.0.113.0'],
    ['ip', '2001:db8:85a3::8a2e:370:7334', '2001:db8:85a3::'],
    ['url', 'https://shop.example.com/p/42?email=jane%40example.com#top', 'https://shop.example.com/p/42'],
    ['hash', '5d41402abc4b2a76b9719d911017c592', '5d41***'],
    ['redacted', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)', '***'],
  ] as const)('%s: %j becomes %j', (kind, value, masked) => {
    expect(mask(kind, value)).toEqual(masked);
  });

  it('keeps null, masks lists item by item, and redacts what it cannot parse rather than pass it through', () => {
    expect(mask('email', null)).toBeNull();
    expect(mask('email', ['a.b@example.com', 'c@example.org'])).toEqual(['a***@example.com', 'c***@example.org']);
    expect(mask('email', 'not-an-email')).toBe('***');
    expect(mask('ip', 'localhost')).toBe('***');
    expect(mask('url', 'javascript:alert(1)')).toBe('***');
    expect(mask('phone', '7')).toBe('***');
    expect(mask('name', 42)).toBe('***');
  });
});
