import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { JwtVerifier, type JwtOptions } from '../../server/auth/jwt.ts';
import { Scope } from '../../server/auth/scopes.ts';
import { signVisitorToken, visitorClaims } from '../../server/auth/visitor-token.ts';
import { AUDIENCE, HS_SECRET, ISSUER, rsaKeys, selfToken, signedClaims, visitorToken } from './helpers.ts';

const options: JwtOptions = { issuer: ISSUER, audience: AUDIENCE, key: { secret: HS_SECRET } };
const verifier = new JwtVerifier(options);
const now = () => Math.floor(Date.now() / 1000);
const BROWSER = '0f8e2a1c-5b7d-4e3f-9a10-2b3c4d5e6f70';

describe('visitor tokens', () => {
  it("bind a token to one browser: its sub is the anonymous id, and it reads as nobody's customer", async () => {
    const result = await verifier.verify(await visitorToken(BROWSER));
    expect(result).toEqual({
      principal: {
        kind: 'jwt',
        client: 'jwt',
        rateLimitKey: `visitor:${BROWSER}`,
        scopes: new Set([Scope.Visitor]),
        customerId: null,
        anonymousId: BROWSER,
      },
    });
  });

  it("keep a browser whose id looks like a customer id apart from that customer's budget", async () => {
    const result = await verifier.verify(await visitorToken('42'));
    expect(result).toMatchObject({ principal: { rateLimitKey: 'visitor:42', customerId: null, anonymousId: '42' } });
  });

  it('are verified with the same JWKS as customer tokens', async () => {
    const keys = await rsaKeys();
    const jwks = new JwtVerifier({ issuer: ISSUER, audience: AUDIENCE, key: { jwks: keys.jwks } });
    const token = await keys.sign({ scope: Scope.Visitor }, BROWSER);
    expect(await jwks.verify(token)).toMatchObject({ principal: { anonymousId: BROWSER, scopes: new Set([Scope.Visitor]) } });
  });

  const refused: Array<[string, () => Promise<string>, string]> = [
    ['an anonymous id with other characters', () => signedClaims({ sub: 'jane@example.com', scope: Scope.Visitor, iat: now(), exp: now() + 60 }), 'sub is not an anonymous id'],
    ['an anonymous id of 129 characters', () => signedClaims({ sub: 'a'.repeat(129), scope: Scope.Visitor, iat: now(), exp: now() + 60 }), 'sub is not an anonymous id'],
    ['no iat', () => signedClaims({ sub: BROWSER, scope: Scope.Visitor, exp: now() + 60 }), 'a visitor token without iat'],
    ['a life longer than the maximum', () => signedClaims({ sub: BROWSER, scope: Scope.Visitor, iat: now(), exp: now() + 3601 }), 'a visitor token that lives too long'],
    [
      'an iat in the future (which would stretch its life)',
      () => signedClaims({ sub: BROWSER, scope: Scope.Visitor, iat: now() + 86_400, exp: now() + 86_400 + 60 }),
      'iat is in the future',
    ],
    [
      'both self scopes',
      () => signedClaims({ sub: '5', scope: `${Scope.Self} ${Scope.Visitor}`, iat: now(), exp: now() + 60 }),
      'customer:read:self and visitor:read:self together',
    ],
  ];

  it.each(refused)('are refused as invalid with %s', async (_, token, reason) => {
    expect(await verifier.verify(await token())).toEqual({ failure: 'invalid', reason });
  });

  it('live at most JWT_VISITOR_MAX_TTL_SECONDS, as configured', async () => {
    const strict = new JwtVerifier({ ...options, visitorMaxTtlSeconds: 300 });
    expect(await strict.verify(await visitorToken(BROWSER, { ttlSeconds: 300 }))).toHaveProperty('principal');
    expect(await strict.verify(await visitorToken(BROWSER, { ttlSeconds: 301 }))).toEqual({ failure: 'invalid', reason: 'a visitor token that lives too long' });
  });

  it('grant nothing where JWT_SCOPES leaves the visitor scope out', async () => {
    const customersOnly = new JwtVerifier({ ...options, allowedScopes: [Scope.Self] });
    expect(await customersOnly.verify(await visitorToken(BROWSER))).toMatchObject({ principal: { scopes: new Set(), customerId: null, anonymousId: null } });
  });
});

describe('customer tokens with the browser of their session', () => {
  it("carry the optional anonymous_id claim as the principal's anonymous id", async () => {
    const token = await signedClaims({ sub: '7', scope: Scope.Self, anonymous_id: BROWSER, exp: now() + 60 });
    expect(await verifier.verify(token)).toMatchObject({ principal: { customerId: '7', anonymousId: BROWSER, rateLimitKey: 'jwt:7' } });
    expect(await verifier.verify(await selfToken({ sub: '7' }))).toMatchObject({ principal: { customerId: '7', anonymousId: null } });
  });

  it.each([
    ['an email', 'jane@example.com'],
    ['a number', 12345],
    ['a list', [BROWSER]],
    ['an empty string', ''],
  ])('are refused as invalid when anonymous_id is %s', async (_, value) => {
    const token = await signedClaims({ sub: '7', scope: Scope.Self, anonymous_id: value, exp: now() + 60 });
    expect(await verifier.verify(token)).toEqual({ failure: 'invalid', reason: 'anonymous_id is not an anonymous id' });
  });
});

describe('visitorClaims, the claim set a storefront backend signs', () => {
  it('names the browser, the visitor scope, and a lifetime of an hour unless told otherwise', () => {
    const at = new Date('2026-12-01T10:00:00Z');
    expect(visitorClaims(BROWSER, { issuer: ISSUER, audience: AUDIENCE, now: at })).toEqual({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: BROWSER,
      scope: 'visitor:read:self',
      iat: at.getTime() / 1000,
      exp: at.getTime() / 1000 + 3600,
    });
  });

  it('refuses an id that is not an anonymous id without repeating it, and a lifetime that is not whole seconds', () => {
    expect(() => visitorClaims('jane@example.com', { issuer: ISSUER, audience: AUDIENCE })).toThrow(/^expected an anonymous id of 1-128 letters/);
    expect(() => visitorClaims('jane@example.com', { issuer: ISSUER, audience: AUDIENCE })).not.toThrow(/jane/);
    expect(() => visitorClaims(BROWSER, { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 0 })).toThrow(/at least 1/);
  });

  it('signs to a token this server accepts', async () => {
    const token = await signVisitorToken(visitorClaims(BROWSER, { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: 60 }), HS_SECRET);
    expect(decodeJwt(token)).toMatchObject({ sub: BROWSER, scope: 'visitor:read:self' });
    expect(await verifier.verify(token)).toMatchObject({ principal: { anonymousId: BROWSER } });
  });
});
