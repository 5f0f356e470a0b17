import { badUserInput } from './errors.ts';

/** Commerce ids are decimal strings of a BIGINT; anything else cannot name a customer. */
export function customerId(value: string, argument: string): string {
  if (!/^[1-9]\d{0,17}$/.test(value)) throw badUserInput(`${argument}: expected a numeric customer id, got "${value.slice(0, 40)}"`, argument);
  return value;
}

/** A page size within 1..max. */
export function pageSize(value: number | null | undefined, max: number, argument = 'first'): number {
  const size = value ?? max;
  if (!Number.isInteger(size) || size < 1 || size > max) throw badUserInput(`${argument}: expected 1 to ${max}, got ${size}`, argument);
  return size;
}

/** Exactly one of the named arguments is given; returns its name. */
export function exactlyOne<T extends Record<string, unknown>>(args: T): keyof T {
  const given = Object.keys(args).filter((name) => args[name] !== undefined && args[name] !== null);
  if (given.length !== 1) {
    throw badUserInput(`expected exactly one of ${Object.keys(args).join(', ')}, got ${given.length ? given.join(' and ') : 'none'}`);
  }
  return given[0]!;
}

/** At most `max` keys in a list argument. */
export function keyList<T>(values: readonly T[], max: number, argument: string): readonly T[] {
  if (values.length > max) throw badUserInput(`${argument}: expected at most ${max} keys, got ${values.length}`, argument);
  return values;
}

/** A non-negative decimal amount with at most two fraction digits, e.g. `250` or `19.90`. */
export function decimalAmount(value: string, argument: string): string {
  if (!/^\d{1,12}(\.\d{1,2})?$/.test(value)) throw badUserInput(`${argument}: expected a decimal amount such as "250.00", got "${value.slice(0, 40)}"`, argument);
  return value;
}
