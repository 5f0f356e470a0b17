import { isIP } from 'node:net';
import type { MaskKind } from './personal-data.ts';

/**
 * Masks one resolved value for presentation (see MaskKind). Null stays null and lists are masked
 * item by item; a value of an unexpected shape is redacted rather than passed through.
 */
export function mask(kind: MaskKind, value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (Array.isArray(value)) return value.map((item) => mask(kind, item));
  if (kind === 'coordinate') return typeof value === 'number' ? Math.round(value) : null;
  if (typeof value !== 'string') return REDACTED;
  switch (kind) {
    case 'email':
      return maskEmail(value);
    case 'name':
      return value ? `${firstCharacter(value)}.` : value;
    case 'initial':
      return value ? `${firstCharacter(value)}***` : value;
    case 'phone': {
      const digits = value.replace(/\D/g, '');
      return digits.length > 2 ? `***${digits.slice(-2)}` : REDACTED;
    }
    case 'postal':
      return value.length > 2 ? `${value.slice(0, 2)}***` : REDACTED;
    case 'ip':
      return maskIp(value);
    case 'url':
      return maskUrl(value);
    case 'hash':
      return value.length > 4 ? `${value.slice(0, 4)}***` : REDACTED;
    case 'redacted':
      return REDACTED;
  }
}

const REDACTED = '***';

function firstCharacter(value: string): string {
  return [...value.trim()][0]?.toUpperCase() ?? '';
}

function maskEmail(value: string): string {
  const at = value.lastIndexOf('@');
  if (at < 1) return REDACTED;
  return `${firstCharacter(value).toLowerCase()}***${value.slice(at)}`;
}

function maskIp(value: string): string {
  const version = isIP(value);
  if (version === 4) return `${value.split('.').slice(0, 3).join('.')}.0`;
  if (version === 6) {
    // Keep the /48 (the site), drop the subnet and interface: expand `::` first.
    const [head = '', tail = ''] = value.split('::');
    const left = head ? head.split(':') : [];
    const right = tail ? tail.split(':') : [];
    const groups = value.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
    return `${groups.slice(0, 3).join(':')}::`;
  }
  return REDACTED;
}

function maskUrl(value: string): string {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? `${url.origin}${url.pathname}` : REDACTED;
  } catch {
    return REDACTED;
  }
}
