/**
 * Identifiers of the demo warehouse, derived by hashing (world seed, person, device) rather than
 * drawn from a random stream: a person's browser must have the same anonymous id wherever it is
 * asked for (their own events, and a partner's on a shared computer) without replaying anyone.
 */

function fmix(h: number): number {
  // MurmurHash3's finaliser: every input bit reaches every output bit.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hash(...parts: number[]): number {
  let h = 0x9747b28c;
  for (const part of parts) h = fmix(h ^ Math.imul(part | 0, 0xcc9e2d51)) + 0x6b43a9b5;
  return fmix(h);
}

const hex = (value: number, digits: number) => value.toString(16).padStart(8, '0').slice(-digits);

/** A browser's analytics.js anonymous id (a version-4-shaped UUID), stable per (seed, person, device). */
export function anonymousIdOf(seed: number, index: number, device: number): string {
  // Four independent 32-bit chains (k first): one chain alone would collide among ~100,000 browsers.
  const [a, b, c, d] = [0, 1, 2, 3].map((k) => hash(k, seed, index, device)) as [number, number, number, number];
  return `${hex(a, 8)}-${hex(b, 4)}-4${hex(b >>> 16, 3)}-${((c & 0x3) | 0x8).toString(16)}${hex(c >>> 4, 3)}-${hex(d, 8)}${hex(c >>> 16, 4)}`;
}

/** A device's public address, from the documentation ranges (RFC 5737): plausible, and nobody's. */
export function ipOf(seed: number, index: number, device: number): string {
  const h = hash(seed, index, device, 99);
  const net = ['192.0.2', '198.51.100', '203.0.113'][h % 3]!;
  return `${net}.${1 + ((h >>> 8) % 254)}`;
}

/** A message id, unique per (person, sequence) in one world. */
export function messageIdOf(index: number, sequence: number): string {
  return `ajs-next-${index.toString(36)}-${sequence.toString(36)}`;
}

/**
 * A number in [0, 1) that is a pure function of `parts`: for what a browser is (its consent
 * choices, whether its address geolocates), drawn without touching anyone's random stream, so the
 * visits and links every other test relies on stay exactly as they were.
 */
export function unitOf(...parts: number[]): number {
  return hash(...parts) / 4294967296;
}
