import { describe, expect, it } from 'vitest';
import { ageBand, chooseLocation, countryCodeOf, deviceMix, gender } from '../../traits/demographics.ts';

describe('the demographic location', () => {
  it('takes the CRM first, then the shop, then web geolocation, and lists what each said', () => {
    const location = chooseLocation({
      CRM: { country: 'United States', region: 'CA' },
      SHOP: { country: 'US', region: 'NY' },
      WEB: { country: 'us', region: 'New York' },
    });
    expect(location).toEqual({
      source: 'CRM',
      countryCode: 'US',
      region: 'CA',
      candidates: [
        { source: 'CRM', countryCode: 'US', region: 'CA' },
        { source: 'SHOP', countryCode: 'US', region: 'NY' },
        { source: 'WEB', countryCode: 'US', region: 'New York' },
      ],
    });
  });

  it('passes over a source that holds neither a known country nor a region', () => {
    const location = chooseLocation({ CRM: { country: 'Atlantis', region: ' ' }, SHOP: null, WEB: { country: 'DE', region: null } });
    expect(location).toEqual({ source: 'WEB', countryCode: 'DE', region: null, candidates: [{ source: 'WEB', countryCode: 'DE', region: null }] });
    expect(chooseLocation({ CRM: null, SHOP: { country: null, region: null } })).toBeNull();
  });

  it('keeps a region whose country matched no code', () => {
    expect(chooseLocation({ CRM: { country: 'Atlantis', region: 'North' } })).toMatchObject({ source: 'CRM', countryCode: null, region: 'North' });
  });

  it.each([
    ['United Kingdom', 'GB'],
    ['united states', 'US'],
    ['USA', 'US'],
    ['UK', 'GB'],
    ['gb', 'GB'],
    ['Germany', 'DE'],
    [' France ', 'FR'],
    ['Deutschland', null],
    ['ZZ', null],
    ['European Union', null],
    ['', null],
    [null, null],
  ])('reads the country %j as %j', (text, code) => {
    expect(countryCodeOf(text)).toBe(code);
  });
});

describe('the device mix', () => {
  it('sums sessions by kind of device, as shares, largest first', () => {
    const mix = deviceMix([
      { type: 'mobile', sessions: 5 },
      { type: 'desktop', sessions: 3 },
      { type: 'desktop', sessions: 1 },
      { type: 'tablet', sessions: 1 },
      { type: 'console', sessions: 2 },
    ]);
    expect(mix).toEqual([
      { type: 'MOBILE', sessions: 5, share: 5 / 12 },
      { type: 'DESKTOP', sessions: 4, share: 4 / 12 },
      { type: 'OTHER', sessions: 2, share: 2 / 12 },
      { type: 'TABLET', sessions: 1, share: 1 / 12 },
    ]);
  });

  it('orders ties desktop first, and is null without a session', () => {
    expect(
      deviceMix([
        { type: 'mobile', sessions: 2 },
        { type: 'desktop', sessions: 2 },
      ])?.map((d) => d.type),
    ).toEqual(['DESKTOP', 'MOBILE']);
    expect(deviceMix([])).toBeNull();
    expect(deviceMix([{ type: 'desktop', sessions: 0 }])).toBeNull();
  });
});

describe('the age band', () => {
  const at = new Date('2026-06-15T12:00:00Z');
  it.each([
    ['1990-06-15', 'AGE_35_44'], // 36 on the day
    ['1991-06-16', 'AGE_25_34'], // 34 until tomorrow
    ['2008-06-16', 'UNDER_18'], // 17 until tomorrow
    ['2008-06-15', 'AGE_18_24'],
    ['1961-06-15T00:00:00.000Z', 'AGE_65_PLUS'],
    ['1971-06-16', 'AGE_45_54'], // 54
    ['1972', 'AGE_45_54'], // 54 this year
    [String(Date.UTC(1980, 0, 1)), 'AGE_45_54'], // 46, from epoch milliseconds
    ['1962-01-01', 'AGE_55_64'], // 64
  ])('is %s -> %s', (value, band) => {
    expect(ageBand(value, at)).toBe(band);
  });

  it.each([['2027-01-01'], ['1890'], ['soon'], [''], [null]])('is null for %j (future, over 120, unreadable or missing)', (value) => {
    expect(ageBand(value, at)).toBeNull();
  });
});

describe('the gender', () => {
  it.each([
    [' Female ', 'FEMALE'],
    ['f', 'FEMALE'],
    ['MALE', 'MALE'],
    ['man', 'MALE'],
    ['Non-Binary', 'NON_BINARY'],
    ['non  binary', 'NON_BINARY'],
    ['nb', 'NON_BINARY'],
    ['Other', 'OTHER'],
    ['prefer not to say', null],
    ['gold', null],
    [null, null],
  ])('normalises %j to %j', (value, expected) => {
    expect(gender(value)).toBe(expected);
  });
});
