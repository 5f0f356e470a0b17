/**
 * The demographics trait's computations (schema/traits-profile.graphql): a location chosen by
 * precedence across sources, the device mix, an age band and a normalised gender. Pure: the
 * resolver hands in what the sources answered. Nothing here returns a direct identifier: no city,
 * street or postal code, and never a birth date.
 */

/** Where a location came from, in order of precedence (first wins). */
export const LOCATION_SOURCES = ['CRM', 'SHOP', 'WEB'] as const;
export type LocationSource = (typeof LOCATION_SOURCES)[number];

/** One source's country and region. */
export interface LocationCandidate {
  readonly source: LocationSource;
  /** ISO 3166-1 alpha-2, or null when the source's country matched none. */
  readonly countryCode: string | null;
  readonly region: string | null;
}

/** The chosen location (the first candidate by precedence) and every candidate. */
export interface ChosenLocation extends LocationCandidate {
  readonly candidates: readonly LocationCandidate[];
}

/** What each source holds, as it writes it: a country (code or name) and a region. */
export type PlaceBySource = Partial<Record<LocationSource, { readonly country: string | null; readonly region: string | null } | null>>;

/**
 * The candidates in order of precedence (a source counts when it holds a country or a region) and
 * the first of them; null when no source holds either.
 */
export function chooseLocation(places: PlaceBySource): ChosenLocation | null {
  const candidates = LOCATION_SOURCES.flatMap((source): LocationCandidate[] => {
    const place = places[source];
    const region = place?.region?.trim() || null;
    const countryCode = countryCodeOf(place?.country ?? null);
    return region !== null || countryCode !== null ? [{ source, countryCode, region }] : [];
  });
  const [first] = candidates;
  return first ? { ...first, candidates } : null;
}

/** Alpha-2 codes Intl knows, by upper-cased English name; built once, on first use. */
let countryNames: Map<string, string> | undefined;
/** Names in common use that are not Intl's English name. */
const ALIASES: Readonly<Record<string, string>> = {
  USA: 'US',
  'UNITED STATES OF AMERICA': 'US',
  UK: 'GB',
  'GREAT BRITAIN': 'GB',
  ENGLAND: 'GB',
  SCOTLAND: 'GB',
  WALES: 'GB',
  'NORTHERN IRELAND': 'GB',
};

/**
 * An ISO 3166-1 alpha-2 code from a country as a source writes it: a code (any case), or an
 * English name (HubSpot's `country` is free text, usually the name); null when none matches.
 */
export function countryCodeOf(country: string | null): string | null {
  const text = country?.trim().toUpperCase();
  if (!text) return null;
  const names = (countryNames ??= englishCountryNames());
  if (ALIASES[text]) return ALIASES[text];
  if (text.length === 2) return [...names.values()].includes(text) ? text : null;
  return names.get(text) ?? null;
}

function englishCountryNames(): Map<string, string> {
  const display = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });
  const names = new Map<string, string>();
  const letters = Array.from({ length: 26 }, (_, i) => String.fromCharCode(65 + i));
  for (const a of letters) {
    for (const b of letters) {
      const code = a + b;
      const name = display.of(code);
      // Retired codes (DD, FX, UK) are named like their successors: only current codes count.
      // Groupings and private-use codes (EU, UN, ZZ, QO, XA) are not countries; XK (Kosovo) is kept.
      const current = new Intl.Locale(`und-${code}`).region === code;
      if (name && name !== code && current && !/unknown|union|nations|outlying|eurozone|pseudo/i.test(name)) names.set(name.toUpperCase(), code);
    }
  }
  return names;
}

export type DeviceKind = 'DESKTOP' | 'MOBILE' | 'TABLET' | 'OTHER';

/** One kind of device's sessions and share. */
export interface DeviceShare {
  readonly type: DeviceKind;
  readonly sessions: number;
  readonly share: number;
}

/**
 * Sessions by kind of device, as shares of all of them, largest first (ties in the order
 * DESKTOP, MOBILE, TABLET, OTHER); null when there is no session.
 */
export function deviceMix(devices: ReadonlyArray<{ readonly type: string; readonly sessions: number }>): DeviceShare[] | null {
  const order: readonly DeviceKind[] = ['DESKTOP', 'MOBILE', 'TABLET', 'OTHER'];
  const byKind = new Map<DeviceKind, number>();
  for (const device of devices) {
    const upper = device.type.toUpperCase();
    const kind = (order as readonly string[]).includes(upper) ? (upper as DeviceKind) : 'OTHER';
    byKind.set(kind, (byKind.get(kind) ?? 0) + device.sessions);
  }
  const total = [...byKind.values()].reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  return order
    .filter((kind) => (byKind.get(kind) ?? 0) > 0)
    .map((type) => ({ type, sessions: byKind.get(type)!, share: byKind.get(type)! / total }))
    .sort((a, b) => b.sessions - a.sessions);
}

export type AgeBand = 'UNDER_18' | 'AGE_18_24' | 'AGE_25_34' | 'AGE_35_44' | 'AGE_45_54' | 'AGE_55_64' | 'AGE_65_PLUS';

/** Each band's lowest age, highest band first. */
const BANDS: ReadonlyArray<readonly [number, AgeBand]> = [
  [65, 'AGE_65_PLUS'],
  [55, 'AGE_55_64'],
  [45, 'AGE_45_54'],
  [35, 'AGE_35_44'],
  [25, 'AGE_25_34'],
  [18, 'AGE_18_24'],
  [0, 'UNDER_18'],
];
const OLDEST = 120;

/**
 * The age band at `at` from a birth date as the CRM holds it: a year (`1987`), a date
 * (`1987-06-30`), an ISO date-time, or epoch milliseconds (HubSpot's older date format). From a
 * year alone, the age reached in `at`'s year. Null when unreadable, in the future or over 120.
 */
export function ageBand(value: string | null, at: Date): AgeBand | null {
  const age = ageOf(value?.trim() ?? '', at);
  if (age === null || age < 0 || age > OLDEST) return null;
  return BANDS.find(([lowest]) => age >= lowest)![1];
}

function ageOf(text: string, at: Date): number | null {
  if (/^\d{4}$/.test(text)) return at.getUTCFullYear() - Number(text);
  const born = /^-?\d{10,}$/.test(text) ? new Date(Number(text)) : /^\d{4}-\d{2}-\d{2}/.test(text) ? new Date(text.slice(0, 10)) : null;
  if (born === null || Number.isNaN(born.getTime())) return null;
  const years = at.getUTCFullYear() - born.getUTCFullYear();
  const hadBirthday = at.getUTCMonth() > born.getUTCMonth() || (at.getUTCMonth() === born.getUTCMonth() && at.getUTCDate() >= born.getUTCDate());
  return born.getTime() > at.getTime() ? null : hadBirthday ? years : years - 1;
}

export type Gender = 'FEMALE' | 'MALE' | 'NON_BINARY' | 'OTHER';

/** The values each gender is recorded as (lower case, spaces and hyphens as written here). */
const GENDERS: Readonly<Record<string, Gender>> = {
  female: 'FEMALE',
  f: 'FEMALE',
  woman: 'FEMALE',
  male: 'MALE',
  m: 'MALE',
  man: 'MALE',
  'non-binary': 'NON_BINARY',
  nonbinary: 'NON_BINARY',
  non_binary: 'NON_BINARY',
  'non binary': 'NON_BINARY',
  nb: 'NON_BINARY',
  other: 'OTHER',
};

/** The CRM's value normalised (case and surrounding spaces ignored); null for anything else. */
export function gender(value: string | null): Gender | null {
  return GENDERS[value?.trim().toLowerCase().replace(/\s+/g, ' ') ?? ''] ?? null;
}
