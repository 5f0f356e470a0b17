import { Faker, base, en, type Randomizer } from '@faker-js/faker';

/**
 * A seedable generator whose seeding is O(1) (SplitMix32), so every person, order and event can
 * have its own stream derived from (world seed, kind, index) and be regenerated on demand by a
 * stand-in without generating anyone before it. Faker's default Mersenne Twister costs ~20 us to
 * seed, which is 20 s of a 1,000,000-customer shop.
 */
class SplitMix implements Randomizer {
  private state = 0;

  // Arrow properties: Faker calls these unbound.
  next = (): number => {
    this.state = (this.state + 0x9e3779b9) | 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };

  seed = (seed: number | number[]): void => {
    const parts = Array.isArray(seed) ? seed : [seed];
    let h = 0x811c9dc5;
    for (const part of parts) h = Math.imul(h ^ (part | 0), 0x01000193) ^ Math.floor(part / 4294967296);
    this.state = h;
  };
}

/** Stream identifiers: each kind of generated thing draws from its own stream. */
export const Stream = {
  person: 1,
  orders: 2,
  carts: 3,
  catalog: 4,
  company: 5,
  email: 6,
  web: 7,
  /** The event warehouse's sessions and events per person (sandbox/demo/warehouse/). */
  warehouse: 8,
} as const;

/** A Faker instance (English, with the locale-free data) seeded per (world seed, stream, index). */
export class Rng {
  readonly faker = new Faker({ locale: [en, base], randomizer: new SplitMix() });

  /** Restarts the stream for one generated thing; the same arguments give the same sequence. */
  reset(worldSeed: number, stream: number, index: number): Faker {
    this.faker.seed([worldSeed, stream, index]);
    return this.faker;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.faker.number.float({ min: 0, max: 1, fractionDigits: 6 });
  }
}

/** A Poisson draw of mean `lambda`: how many events a person has in a span. */
export function poisson(lambda: number, random: () => number): number {
  // Knuth's method for the small means here; a normal approximation for the rare large ones.
  if (lambda > 60) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * (random() + random() + random() - 1.5) * 2));
  const limit = Math.exp(-lambda);
  let count = 0;
  for (let p = random(); p > limit; p *= random()) count++;
  return count;
}
