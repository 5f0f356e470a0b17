import UAParser from 'ua-parser-js';
import type { DeviceType, WebDevice } from './model.ts';

/** What the devices statement returns per (key, user agent): sessions that began with it. */
export interface SessionAgentRow {
  user_agent: string | null;
  sessions: number;
  last_seen_at: Date;
}

interface ParsedAgent {
  readonly type: DeviceType;
  readonly os: string | null;
  readonly browser: string | null;
}

// A person has a handful of user agents and a busy site a few thousand distinct ones; parsing costs
// tens of microseconds, so remember them, and start over rather than grow without bound.
const MAX_REMEMBERED = 5000;
const parsed = new Map<string, ParsedAgent>();

/** A user agent as ua-parser-js reads it; no user agent at all is an unknown ("other") device. */
export function parseUserAgent(userAgent: string | null): ParsedAgent {
  if (!userAgent) return { type: 'other', os: null, browser: null };
  let agent = parsed.get(userAgent);
  if (agent) return agent;
  const result = new UAParser(userAgent).getResult();
  agent = { type: deviceType(result.device.type), os: result.os.name ?? null, browser: result.browser.name ?? null };
  if (parsed.size >= MAX_REMEMBERED) parsed.clear();
  parsed.set(userAgent, agent);
  return agent;
}

function deviceType(type: string | undefined): DeviceType {
  // ua-parser-js leaves desktops untyped: no device type means a desktop or laptop browser.
  if (type === undefined) return 'desktop';
  return type === 'mobile' || type === 'tablet' ? type : 'other';
}

/**
 * One person's devices from their per-user-agent session counts: merged by (type, OS, browser),
 * each with its share of all the person's sessions, most sessions first (then most recent,
 * then by name, so the order is stable).
 */
export function devicesOf(rows: readonly SessionAgentRow[]): WebDevice[] {
  const total = rows.reduce((sum, row) => sum + row.sessions, 0);
  const devices = new Map<string, { key: string; agent: ParsedAgent; sessions: number; lastSeenAt: Date }>();
  for (const row of rows) {
    const agent = parseUserAgent(row.user_agent);
    const key = `${agent.type}\n${agent.os}\n${agent.browser}`;
    const device = devices.get(key);
    if (!device) devices.set(key, { key, agent, sessions: row.sessions, lastSeenAt: row.last_seen_at });
    else {
      device.sessions += row.sessions;
      if (row.last_seen_at > device.lastSeenAt) device.lastSeenAt = row.last_seen_at;
    }
  }
  return [...devices.values()]
    .sort((a, b) => b.sessions - a.sessions || b.lastSeenAt.getTime() - a.lastSeenAt.getTime() || (a.key < b.key ? -1 : 1))
    .map(({ agent, sessions, lastSeenAt }) => ({ ...agent, sessions, share: sessions / total, lastSeenAt }));
}
