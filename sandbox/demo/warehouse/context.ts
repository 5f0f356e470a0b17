/**
 * What a browser's events carry besides the page: the consent its CMP banner recorded (Segment's
 * `context.consent.categoryPreferences`, OneTrust's C0002 analytics and C0004 advertising
 * categories) and where it is (RudderStack-style IP geolocation and the device's timezone). Both
 * are properties of the browser, drawn by hashing (seed, owner, device) rather than from a random
 * stream: a shared computer's events say the same whoever uses it, and the visits and identity
 * links drawn from the streams are exactly what they were before these columns existed.
 */
import type { DemoPerson } from '../people.ts';
import { unitOf } from './ids.ts';

/** One event's consent answers: the columns' values. */
export interface EventConsent {
  readonly analytics: boolean;
  readonly advertising: boolean;
}

/**
 * A browser's consent over time: the answer its events carry before `switchAt` and from then on.
 * Most grant from the start (the same answer on both sides); some declined at first and accepted
 * later (analytics denied on their early events); a few granted and then revoked (their newest
 * events deny). `switchAt` is a fraction of the history, made a time by consentAt.
 */
export interface BrowserConsent {
  readonly before: EventConsent;
  readonly after: EventConsent;
  /** Where in the history (0..1) the answer changes. */
  readonly switchAt: number;
}

/** Where a browser's IP geolocates (its owner's address) and its timezone. */
export interface BrowserPlace {
  readonly country: string | null;
  readonly region: string | null;
  readonly city: string | null;
  readonly timezone: string;
}

// Shared answers: a warehouse of millions of events holds four distinct ones.
const ANSWERS: Record<string, EventConsent> = {};
const answer = (analytics: boolean, advertising: boolean): EventConsent => (ANSWERS[`${analytics}${advertising}`] ??= { analytics, advertising });

/** Shares of browsers: without a consent banner, and of those with one, who change their answer. */
const NO_BANNER = 0.35;
const DECLINED_FIRST = 0.14;
const REVOKED = 0.08;
/** Of those granting analytics, who also allow advertising. */
const ADVERTISING = 0.7;
/** Addresses IP geolocation misses (a carrier's gateway, a VPN). */
const NOT_LOCATED = 0.08;

/** The consent of browser `device` of person `index`, or null when it never showed a banner (no consent object). */
export function browserConsent(seed: number, index: number, device: number): BrowserConsent | null {
  if (unitOf(seed, index, device, 11) < NO_BANNER) return null;
  const roll = unitOf(seed, index, device, 12);
  const granted = answer(true, unitOf(seed, index, device, 13) < ADVERTISING);
  const denied = answer(false, false);
  const switchAt = 0.3 + 0.5 * unitOf(seed, index, device, 14);
  if (roll < DECLINED_FIRST) return { before: denied, after: granted, switchAt };
  if (roll < DECLINED_FIRST + REVOKED) return { before: granted, after: denied, switchAt };
  return { before: granted, after: granted, switchAt };
}

/** Where browser `device` of `person` geolocates: the owner's address, unless the lookup misses. */
export function browserPlace(seed: number, person: DemoPerson, device: number): BrowserPlace {
  const located = unitOf(seed, person.index, device, 21) >= NOT_LOCATED;
  return {
    country: located ? person.countryCode : null,
    region: located ? person.region : null,
    city: located ? person.city : null,
    timezone: person.timezone,
  };
}

/** The answer an event at `at` carries, for a history from `from` to `until` (ms); null without a banner. */
export function consentAt(consent: BrowserConsent | null, at: number, from: number, until: number): EventConsent | null {
  if (!consent) return null;
  return at < from + consent.switchAt * (until - from) ? consent.before : consent.after;
}
