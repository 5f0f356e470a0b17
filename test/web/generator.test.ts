import { describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { cartsOf, catalog } from '../../sandbox/demo/shop.ts';
import { devicesOf, sharingPartner, webActivityOf } from '../../sandbox/demo/warehouse.ts';
import { parseUserAgent } from '../../sources/web/devices.ts';
import { TEST_AS_OF } from '../support/database.ts';

const world: DemoWorld = { seed: 360, customers: 300, asOf: TEST_AS_OF };
catalog(world); // ordersOf and cartsOf expect the catalog built first (it shares their random stream)

describe('the demo warehouse generator', () => {
  it('gives the same activity for the same world and person', () => {
    const person = personAt(world, 17);
    expect(webActivityOf(world, person)).toEqual(webActivityOf(world, person));
  });

  it("adds each open cart's products at the shop's times (a few seconds late when adds were closer than a page view)", () => {
    let items = 0;
    let exact = 0;
    for (let index = 0; index < world.customers; index++) {
      const person = personAt(world, index);
      const activity = webActivityOf(world, person);
      const adds = activity.visits.flatMap((v) => v.events).flatMap((e) => (e.type === 'track' && e.event.name === 'product_added' ? [e] : []));
      for (const item of cartsOf(world, person).flatMap((cart) => cart.items)) {
        if (item.addedAt.getTime() > world.asOf.getTime() - 10_000) continue; // still being added at asOf
        const at = adds.filter((e) => 'product' in e.event && e.event.product.id === item.product.id).map((e) => e.at - item.addedAt.getTime());
        expect(at.some((delay) => delay >= 0 && delay < 5 * 60_000)).toBe(true);
        items++;
        if (at.includes(0)) exact++;
      }
    }
    expect(items).toBeGreaterThan(30);
    expect(exact / items).toBeGreaterThan(0.95);
  });

  it('uses browsers people shop with: desktop, phone and tablet, no bots', () => {
    const agents = Array.from({ length: 500 }, (_, i) => personAt(world, i).web.userAgents).flat();
    const parsed = agents.map(parseUserAgent);
    expect(agents.filter((ua) => /bot|crawl|spider/i.test(ua))).toEqual([]);
    expect(parsed.every((p) => p.type !== 'other' && p.os !== null && p.browser !== null)).toBe(true);
    expect(new Set(parsed.map((p) => p.type))).toEqual(new Set(['desktop', 'mobile', 'tablet']));
    expect(new Set(parsed.map((p) => p.browser))).toEqual(new Set(['Mobile Safari', 'Chrome', 'Edge', 'Firefox', 'Safari', 'Samsung Internet']));
  });

  it("records a consent answer on most browsers' events: mostly grants, some early refusals, a few revocations", () => {
    const browsers = new Map<string, boolean[]>();
    for (let index = 0; index < world.customers; index++) {
      for (const { device, events } of webActivityOf(world, personAt(world, index)).visits) {
        const answers = browsers.get(device.anonymousId) ?? [];
        browsers.set(device.anonymousId, answers);
        // One person's events in time order per visit; visits come in time order too.
        for (const event of events) if (event.consent) answers.push(event.consent.analytics);
      }
    }
    const seen = [...browsers.values()].filter((answers) => answers.length > 0);
    const withBanner = seen.length / browsers.size;
    const revoked = seen.filter((a) => a.includes(true) && a.at(-1) === false).length;
    const declinedFirst = seen.filter((a) => a[0] === false && a.at(-1) === true).length;
    const granted = seen.filter((a) => a.every(Boolean)).length;
    expect(withBanner).toBeGreaterThan(0.5);
    expect(withBanner).toBeLessThan(0.8);
    expect(granted / seen.length).toBeGreaterThan(0.7);
    expect(revoked).toBeGreaterThan(5);
    expect(declinedFirst).toBeGreaterThan(10);
    expect(revoked + declinedFirst).toBeLessThan(seen.length * 0.3);
  });

  it("places a browser at its owner's address, in their timezone, and a shared computer at its owner's", () => {
    let located = 0;
    let devices = 0;
    for (let index = 0; index < world.customers; index++) {
      const person = personAt(world, index);
      const partner = sharingPartner(world, index);
      for (const [d, device] of devicesOf(world, person).entries()) {
        const owner = d === 0 && partner !== null && partner < index ? personAt(world, partner) : person;
        devices++;
        expect(device.place.timezone).toBe(owner.timezone);
        if (device.place.country === null) continue;
        located++;
        expect(device.place).toEqual({ country: owner.countryCode, region: owner.region, city: owner.city, timezone: owner.timezone });
      }
    }
    expect(located / devices).toBeGreaterThan(0.85);
    expect(located).toBeLessThan(devices);
  });
});
