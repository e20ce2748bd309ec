/**
 * Checks a JSON text for what JSON.parse would accept but silently change: numbers that a double
 * cannot hold exactly (they would be stored altered), nesting deeper than we store safely, and
 * strings with unpaired surrogates (they cannot be written as UTF-8). One pass over the text.
 */
export const MAX_JSON_DEPTH = 64;

export type JsonGuardProblem =
  | { type: 'json_depth'; msg: string }
  | { type: 'number_precision'; msg: string }
  | { type: 'string_unicode'; msg: string };

const isDigit = (c: number) => c >= 48 && c <= 57;

function numberProblem(token: string): JsonGuardProblem | undefined {
  const value = Number(token);
  if (!Number.isFinite(value)) {
    return { type: 'number_precision', msg: `Number ${token.slice(0, 40)} is out of range` };
  }
  if (/^-?\d+$/.test(token)) {
    if (BigInt(token) !== BigInt(value)) {
      return { type: 'number_precision', msg: `Integer ${token.slice(0, 40)} cannot be stored exactly; send it as a string` };
    }
  } else if (value === 0 && /[1-9]/.test(token.split(/[eE]/)[0] ?? '')) {
    return { type: 'number_precision', msg: `Number ${token.slice(0, 40)} is too small to be stored` };
  }
  return undefined;
}

export function checkJsonText(text: string): JsonGuardProblem | undefined {
  let depth = 0;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) {
          if (text.charCodeAt(i + 1) === 117 /* u */) {
            const unit = parseInt(text.slice(i + 2, i + 6), 16);
            if (unit >= 0xd800 && unit <= 0xdbff) {
              const next = text.slice(i + 6, i + 8) === '\\u' ? parseInt(text.slice(i + 8, i + 12), 16) : -1;
              if (next < 0xdc00 || next > 0xdfff) return unpaired();
              i += 12;
              continue;
            }
            if (unit >= 0xdc00 && unit <= 0xdfff) return unpaired();
            i += 6;
            continue;
          }
          i += 2;
          continue;
        }
        if (d >= 0xd800 && d <= 0xdfff) {
          const next = text.charCodeAt(i + 1);
          if (d > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return unpaired();
          i += 2;
          continue;
        }
        i++;
        if (d === 34) break;
      }
      continue;
    }
    if (c === 91 /* [ */ || c === 123 /* { */) {
      depth++;
      if (depth > MAX_JSON_DEPTH) {
        return { type: 'json_depth', msg: `JSON is nested deeper than ${MAX_JSON_DEPTH} levels` };
      }
    } else if (c === 93 || c === 125) {
      depth--;
    } else if (c === 45 /* - */ || isDigit(c)) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (isDigit(d) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45) j++;
        else break;
      }
      const problem = numberProblem(text.slice(i, j));
      if (problem) return problem;
      i = j;
      continue;
    }
    i++;
  }
  return undefined;
}

function unpaired(): JsonGuardProblem {
  return { type: 'string_unicode', msg: 'String contains an unpaired surrogate; it cannot be stored as UTF-8' };
}
