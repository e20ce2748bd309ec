/**
 * `_ensure_timestamp` of the contract: integer Unix seconds (below 1e11), integer Unix milliseconds
 * (from 1e11), or an ISO-8601 string (no offset means UTC). Everything is normalized to integer ms.
 */
export const SECONDS_MS_BOUNDARY = 100_000_000_000;

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** Parses an ISO-8601 date or date-time; returns ms since the epoch, or undefined if not valid. */
export function parseIsoTimestamp(value: string): number | undefined {
  const m = ISO.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return undefined;
  let offsetMin = 0;
  if (zone && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (oh > 23 || om > 59) return undefined;
    offsetMin = sign * (oh * 60 + om);
  }
  const ms = Number((frac + '000').slice(0, 3));
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  return date.getTime() - offsetMin * 60_000;
}

/**
 * A number as the JSON text wrote it, where the parsed value would hide what the rules need: a float
 * literal with a whole value (`1700000000.0`, `17e8`: floats are refused, as Python reads them) or
 * an integer too large for a double to hold exactly (still an integer of milliseconds, just far
 * outside any window). The HTTP layer puts it in place of the parsed number.
 */
export class WrittenNumber {
  constructor(readonly lexeme: string) {}
  get isInteger(): boolean {
    return /^-?\d+$/.test(this.lexeme);
  }
}

/** Where request bodies carry timestamps (`*`: any array index): the HTTP layer keeps numbers there as written. */
export const TIMESTAMP_PATHS = [['created_at'], ['events', '*', 'created_at']] as const;

/**
 * Normalizes an accepted timestamp to ms. Returns undefined for anything the contract refuses
 * (floats, booleans, numeric strings, negatives, malformed strings); the caller reports it as 422.
 */
export function toMillis(value: unknown): number | undefined {
  if (value instanceof WrittenNumber) {
    // Integers from 2^53 up: milliseconds, past the year 287,000, outside every window (at most 10
    // years wide); never stored, so the rounded value only has to be on the right side of it.
    if (!value.isInteger || value.lexeme.startsWith('-')) return undefined;
    return Math.min(Number(value.lexeme), Number.MAX_VALUE);
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) return undefined;
    return value < SECONDS_MS_BOUNDARY ? value * 1000 : value;
  }
  if (typeof value === 'string') return parseIsoTimestamp(value);
  return undefined;
}

export interface TimeWindow {
  maxDeltaMinusSec: number;
  maxDeltaPlusSec: number;
}

/** True when `ms` lies in `[now - minus, now + plus]`, both ends included. */
export function inWindow(ms: number, now: number, window: TimeWindow): boolean {
  return ms >= now - window.maxDeltaMinusSec * 1000 && ms <= now + window.maxDeltaPlusSec * 1000;
}
