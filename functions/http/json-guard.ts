/**
 * The JSON guard: parses a request body once (the engine's JSON.parse) and, in one linear pass over
 * the same text, finds what JSON.parse accepts but silently changes: numbers that a double cannot
 * hold exactly (they would be stored altered), strings with unpaired surrogates (they cannot be
 * written as UTF-8), and nesting deeper than we store safely. It also reads the numbers at watched
 * paths as they were written (timestamps: `1700000000.0` is a float to Python, not an integer).
 *
 * Bound: time and memory linear in the length of the text, for any shape. Every character is looked
 * at a constant number of times; a key is decoded at most once, and only in an object where
 * something was found or on the way to a number at a watched depth; a value found is moved at most once per enclosing level (at most 64); what a
 * repeated key replaced is dropped in one step (no search); a body with more than
 * MAX_JSON_FINDINGS altered values is refused at once.
 */
export const MAX_JSON_DEPTH = 64;
/** More values that JSON.parse would alter than this, wherever they are: the body is refused. */
export const MAX_JSON_FINDINGS = 100;

export type JsonGuardProblem =
  | { type: 'json_invalid'; msg: string }
  | { type: 'json_depth'; msg: string }
  | { type: 'json_unsafe_values'; msg: string }
  | { type: 'number_precision'; msg: string }
  | { type: 'string_unicode'; msg: string };

/** A path into a JSON value: object keys, and `*` for any index of an array. */
export type PathPattern = readonly string[];
export type JsonPath = (string | number)[];

/** A value JSON.parse would silently alter (an inexact number, a lone surrogate), and where it is. */
export interface Finding {
  path: JsonPath;
  problem: JsonGuardProblem;
}

export interface JsonGuardOptions {
  /** Paths whose numbers are kept as written where their parsed value hides how they were written. */
  watched?: readonly PathPattern[];
  /**
   * What replaces such a number (a float literal such as `1.7e9` or `1700000000.0`, an integer past
   * 2^53) in the parsed value; its own rules judge it. Without it, the parsed number stays.
   */
  asWritten?: (lexeme: string) => unknown;
}

export type JsonRead =
  /** Not JSON, nested too deep, or too many altered values: refused whatever the fields. */
  | { problem: JsonGuardProblem; value?: undefined; findings?: undefined }
  | {
      problem?: undefined;
      /** JSON.parse's value (`__proto__` an own key, the last of repeated keys wins), watched numbers as written. */
      value: unknown;
      /**
       * Values that JSON.parse altered, of the occurrences it keeps (what a repeated key replaced is
       * dropped), in text order. The caller refuses those that land in the validated input; the ones
       * in unknown fields are ignored with their fields.
       */
      findings: Finding[];
    };

const NOT_JSON: JsonGuardProblem = { type: 'json_invalid', msg: 'JSON decode error: the body is not valid JSON' };

/** Parses `text` as JSON.parse does and checks it; never throws. */
export function readJson(text: string, options: JsonGuardOptions = {}): JsonRead {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: NOT_JSON };
  }
  const scan = scanJsonText(text, options.watched);
  if (scan.problem) return { problem: scan.problem };
  if (options.asWritten) {
    for (const { path, lexeme } of scan.literals) {
      if (path.length === 0) continue;
      const holder = holderOf(value, path);
      const last = path[path.length - 1]!;
      if (holder && typeof holder[last] === 'number') holder[last] = options.asWritten(lexeme);
    }
  }
  return { value, findings: scan.findings };
}

const OUT_OF_RANGE = (token: string): JsonGuardProblem => ({
  type: 'number_precision',
  msg: `Number ${token.slice(0, 40)} is out of range`,
});
const TOO_SMALL = (token: string): JsonGuardProblem => ({
  type: 'number_precision',
  msg: `Number ${token.slice(0, 40)} is too small to be stored`,
});
const INTEGER = /^-?\d+$/;
/** Past this many characters a number is judged from its short form (Number() of a long text is slow). */
const LONG_NUMBER = 400;
const ZEROS = /0*/y;

function numberProblem(token: string): JsonGuardProblem | undefined {
  if (token.length > LONG_NUMBER) return longNumberProblem(token);
  const value = Number(token);
  if (!Number.isFinite(value)) return OUT_OF_RANGE(token);
  // A safe integer value is exact (an integer literal past 2^53 cannot round to one); but a zero may be an underflow.
  if (Number.isSafeInteger(value) && (value !== 0 || INTEGER.test(token))) return undefined;
  if (INTEGER.test(token)) {
    // Finite, so at most 309 digits: BigInt is cheap here.
    if (BigInt(token) !== BigInt(value)) {
      return {
        type: 'number_precision',
        msg: `Integer ${token.slice(0, 40)} cannot be stored exactly; send it as a string`,
      };
    }
  } else if (value === 0 && /[1-9]/.test(token.split(/[eE]/)[0] ?? '')) {
    return TOO_SMALL(token);
  }
  return undefined;
}

/**
 * The same checks for a number of more than LONG_NUMBER characters, from a form with at most 800
 * significant digits and a sticky last digit for what was cut: it rounds to the same double (a
 * decimal that lies exactly between two doubles has at most 767 significant digits).
 */
function longNumberProblem(token: string): JsonGuardProblem | undefined {
  // An integer literal has no leading zeros in JSON: this many digits is past 1e308.
  if (INTEGER.test(token)) return OUT_OF_RANGE(token);
  // Positions, not copies: sign, integer digits [intStart, intEnd), fraction [fracStart, fracEnd), exponent.
  const intStart = token.charCodeAt(0) === 45 ? 1 : 0;
  const expAt = token.search(/[eE]/);
  const fracEnd = expAt < 0 ? token.length : expAt;
  const dot = token.indexOf('.');
  const intEnd = dot >= 0 && dot < fracEnd ? dot : fracEnd;
  const fracStart = intEnd === fracEnd ? fracEnd : intEnd + 1;
  // The first and the last significant digit, as positions in the token.
  ZEROS.lastIndex = intStart;
  ZEROS.test(token);
  let first = ZEROS.lastIndex;
  if (first === intEnd && fracStart < fracEnd) {
    ZEROS.lastIndex = fracStart;
    ZEROS.test(token);
    first = ZEROS.lastIndex;
  }
  if (first >= fracEnd) return undefined; // zero, however written
  let last = fracEnd - 1;
  while (token.charCodeAt(last) === 48 || last === intEnd) last--;
  // How many digits (integer and fraction) come before the first significant one.
  const lead = first < intEnd ? first - intStart : intEnd - intStart + (first - fracStart);
  const expText = expAt < 0 ? '0' : token.slice(expAt + 1);
  const expDigits = expText.replace(/^[+-]?0*/, '');
  const exponent =
    (expDigits.length > 9 ? 1e9 : Number(expDigits)) * (expText.startsWith('-') ? -1 : 1) + (intEnd - intStart) - lead;
  let significant = '';
  for (let k = first; k <= last && significant.length < 800; k++) if (k !== intEnd) significant += token[k];
  const digitsInSpan = last - first + 1 - (first < intEnd && intEnd < last ? 1 : 0);
  if (digitsInSpan > 800) significant += '1'; // sticky: the digits cut hold a nonzero one (the last)
  const value = Number(`${intStart === 1 ? '-' : ''}0.${significant}e${exponent}`);
  if (!Number.isFinite(value)) return OUT_OF_RANGE(token);
  if (value === 0) return TOO_SMALL(token);
  return undefined;
}

/** A number found at a watched path: where it is and exactly how it was written. */
export interface NumberLiteral {
  path: JsonPath;
  lexeme: string;
}

export interface JsonScan {
  /** Nesting deeper than MAX_JSON_DEPTH, or more than MAX_JSON_FINDINGS findings: refused whatever the field. */
  problem?: JsonGuardProblem;
  /** Values that would be altered, of the occurrences JSON.parse keeps, in text order. */
  findings: Finding[];
  /**
   * Numbers at the watched paths whose parsed value hides how they were written (a float literal,
   * an integer past 2^53), of the occurrences JSON.parse keeps. They skip the precision check: their
   * own rules judge them.
   */
  literals: NumberLiteral[];
}

/** A finding or a literal, on its way up to the top. */
type Found =
  | { path: JsonPath; problem: JsonGuardProblem; lexeme?: undefined }
  | { path: JsonPath; lexeme: string; problem?: undefined };

interface Frame {
  array: boolean;
  /** Arrays: the index of the current element. */
  index: number;
  /** Objects: where the current key's token is in the text, whether it has escapes, and the key once decoded. */
  keyStart: number;
  keyEnd: number;
  keyPlain: boolean;
  key: string | undefined;
  expectKey: boolean;
  /** Arrays: what the elements so far hold; objects: what the current member's value holds. */
  found: Found[] | undefined;
  /** Objects: what each earlier member holds, by key (only members that hold something; the last occurrence). */
  members: Map<string, Found[]> | undefined;
}

const isSafeIntegerLiteral = (lexeme: string) =>
  lexeme.length <= 17 && INTEGER.test(lexeme) && Number.isSafeInteger(Number(lexeme));

/** Moves `from` to the end of `into` (returns the list that holds both). */
const append = (into: Found[] | undefined, from: Found[]): Found[] => {
  if (into === undefined || into.length === 0) return from;
  for (const f of from) into.push(f);
  return into;
};

/** A run of string characters with nothing to look at: no quote, no backslash, no surrogate. */
const PLAIN = /[^"\\\ud800-\udfff]*/y;
/** The characters of a number (JSON.parse checked its form already). */
const NUMBER = /[-+.eE0-9]*/y;

/** The value of four hex digits at `at`, or -1. */
function hex4(text: string, at: number): number {
  let v = 0;
  for (let k = at; k < at + 4; k++) {
    const c = text.charCodeAt(k);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** The length of the low surrogate at `at`, as a character or as an escape (6), or 0 if there is none. */
function lowSurrogateAt(text: string, at: number): number {
  const c = text.charCodeAt(at);
  if (c >= 0xdc00 && c <= 0xdfff) return 1;
  if (c !== 92 || text.charCodeAt(at + 1) !== 117) return 0;
  const unit = hex4(text, at + 2);
  return unit >= 0xdc00 && unit <= 0xdfff ? 6 : 0;
}

/**
 * Scans a JSON text that JSON.parse accepted, in one pass: nesting depth, numbers a double cannot
 * hold, unpaired surrogates (each with its path), and the numbers at `watched` paths as written.
 */
export function scanJsonText(text: string, watched: readonly PathPattern[] = []): JsonScan {
  // One frame object per level, reused: no allocation per container.
  const frames: Frame[] = [];
  let depth = 0;
  let top: Found[] = [];
  let findingCount = 0;
  let problem: JsonGuardProblem | undefined;
  const keyOf = (f: Frame) =>
    (f.key ??= f.keyPlain
      ? text.slice(f.keyStart + 1, f.keyEnd - 1)
      : (JSON.parse(text.slice(f.keyStart, f.keyEnd)) as string));
  const pathHere = (): JsonPath => {
    const path: JsonPath = [];
    for (let k = 0; k < depth; k++) path.push(frames[k]!.array ? frames[k]!.index : keyOf(frames[k]!));
    return path;
  };
  const atWatchedPath = () => {
    for (const pattern of watched) {
      if (pattern.length !== depth) continue;
      let same = true;
      for (let k = 0; k < depth && same; k++)
        same = pattern[k] === '*' ? frames[k]!.array : !frames[k]!.array && keyOf(frames[k]!) === pattern[k];
      if (same) return true;
    }
    return false;
  };
  const add = (found: Found) => {
    if (depth === 0) top.push(found);
    else (frames[depth - 1]!.found ??= []).push(found);
  };
  const find = (p: JsonGuardProblem) => {
    if (++findingCount > MAX_JSON_FINDINGS) {
      problem ??= {
        type: 'json_unsafe_values',
        msg: `The body holds more than ${MAX_JSON_FINDINGS} values that cannot be stored as sent (numbers a double cannot hold exactly, strings with unpaired surrogates)`,
      };
      return;
    }
    add({ path: pathHere(), problem: p });
  };
  /** The current member of object `f` ends: what it holds is kept under its key. */
  const endMember = (f: Frame) => {
    if (f.found === undefined || f.found.length === 0) return;
    (f.members ??= new Map()).set(keyOf(f), f.found);
    f.found = undefined;
  };
  const n = text.length;
  let i = 0;
  while (i < n && problem === undefined) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      const start = i;
      let unpaired = false;
      let plain = true;
      i++;
      let run = 0;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 34) {
          i++;
          break;
        }
        if (d === 92 /* \\ */) {
          plain = false;
          run = 0;
          if (text.charCodeAt(i + 1) === 117 /* u */) {
            const unit = hex4(text, i + 2);
            if (unit >= 0xd800 && unit <= 0xdbff) {
              const low = lowSurrogateAt(text, i + 6);
              if (low > 0) {
                i += 6 + low;
                continue;
              }
              unpaired = true;
            } else if (unit >= 0xdc00 && unit <= 0xdfff) unpaired = true;
            i += 6;
            continue;
          }
          i += 2;
          continue;
        }
        if (d >= 0xd800 && d <= 0xdfff) {
          // A surrogate code unit in the text itself.
          run = 0;
          const low = d <= 0xdbff ? lowSurrogateAt(text, i + 1) : 0;
          if (low > 0) {
            if (low > 1) plain = false;
            i += 1 + low;
            continue;
          }
          unpaired = true;
          i++;
          continue;
        }
        i++;
        if (++run === 16) {
          // A long run of plain characters: the regex engine skips the rest of it.
          PLAIN.lastIndex = i;
          PLAIN.test(text);
          i = PLAIN.lastIndex;
          run = 0;
        }
      }
      const f = depth > 0 ? frames[depth - 1]! : undefined;
      if (f && !f.array && f.expectKey) {
        f.expectKey = false;
        f.keyStart = start;
        f.keyEnd = i;
        f.keyPlain = plain && !unpaired;
        f.key = undefined;
        // A key seen before in this object: what its earlier value held is dropped, as JSON.parse drops it.
        if (f.members !== undefined && f.members.size > 0) f.members.delete(keyOf(f));
      }
      if (unpaired)
        find({ type: 'string_unicode', msg: 'String contains an unpaired surrogate; it cannot be stored as UTF-8' });
      continue;
    }
    if (c === 91 /* [ */ || c === 123 /* { */) {
      if (depth >= MAX_JSON_DEPTH) {
        problem = { type: 'json_depth', msg: `JSON is nested deeper than ${MAX_JSON_DEPTH} levels` };
        break;
      }
      const f = (frames[depth] ??= {
        array: false,
        index: 0,
        keyStart: 0,
        keyEnd: 0,
        keyPlain: true,
        key: undefined,
        expectKey: false,
        found: undefined,
        members: undefined,
      });
      depth++;
      f.array = c === 91;
      f.index = 0;
      f.key = undefined;
      f.expectKey = c === 123;
      f.found = undefined;
      f.members = undefined;
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      const f = frames[--depth]!;
      let held = f.found;
      if (!f.array) {
        endMember(f);
        held = undefined;
        if (f.members) for (const list of f.members.values()) held = append(held, list);
      }
      f.found = undefined;
      f.members = undefined;
      if (held !== undefined && held.length > 0) {
        if (depth > 0) frames[depth - 1]!.found = append(frames[depth - 1]!.found, held);
        else top = append(top, held);
      }
    } else if (c === 44 /* , */) {
      const f = frames[depth - 1]!;
      if (f.array) f.index++;
      else {
        endMember(f);
        f.expectKey = true;
      }
    } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
      NUMBER.lastIndex = i;
      NUMBER.test(text);
      const j = NUMBER.lastIndex;
      const lexeme = text.slice(i, j);
      if (watched.length > 0 && depth > 0 && atWatchedPath()) {
        if (!isSafeIntegerLiteral(lexeme)) add({ path: pathHere(), lexeme });
      } else {
        const p = numberProblem(lexeme);
        if (p) find(p);
      }
      i = j;
      continue;
    }
    i++;
  }
  if (problem) return { problem, findings: [], literals: [] };
  const findings: Finding[] = [];
  const literals: NumberLiteral[] = [];
  for (const f of top) {
    if (f.problem) findings.push({ path: f.path, problem: f.problem });
    else literals.push({ path: f.path, lexeme: f.lexeme });
  }
  return { findings, literals };
}

/** The object or array that holds the value at `path` in `value`, if that value is there (own properties only). */
export function holderOf(value: unknown, path: readonly PropertyKey[]): Record<PropertyKey, unknown> | undefined {
  let v = value;
  for (const [k, step] of path.entries()) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, step)) return undefined;
    if (k === path.length - 1) return v as Record<PropertyKey, unknown>;
    v = (v as Record<PropertyKey, unknown>)[step];
  }
  return undefined;
}

/** Whether `path` leads to a value in `value`. */
export const hasPath = (value: unknown, path: JsonPath): boolean =>
  path.length === 0 || holderOf(value, path) !== undefined;
