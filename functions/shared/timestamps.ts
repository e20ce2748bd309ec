/**
 * `_ensure_timestamp` of the contract: integer Unix seconds (below 1e11), integer Unix milliseconds
 * (from 1e11), or an ISO-8601 string (no offset means UTC). Everything is normalized to integer ms.
 */
export const SECONDS_MS_BOUNDARY = 100_000_000_000;

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

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
 * Normalizes an accepted timestamp to ms. Returns undefined for anything the contract refuses
 * (floats, booleans, numeric strings, negatives, malformed strings); the caller reports it as 422.
 */
export function toMillis(value: unknown): number | undefined {
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
