/**
 * The JSON guard on its own (functions/http/json-guard.ts): one parse with JSON.parse's semantics,
 * the values it would alter and where, what a repeated key drops, nesting, the cap on findings,
 * timestamps as written; then a fuzz test against JSON.parse and an independent model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, MAX_JSON_FINDINGS, readJson, type JsonPath } from '../../functions/http/json-guard.js';
import { TIMESTAMP_PATHS } from '../../functions/shared/timestamps.js';
import { canonical } from '../robustness/support/model.js';

const written = (lexeme: string) => ({ written: lexeme });
const read = (text: string) => readJson(text, { watched: TIMESTAMP_PATHS, asWritten: written });
const found = (text: string) => {
  const r = read(text);
  if (r.problem) throw new Error(`unexpected problem ${r.problem.type}`);
  return r.findings.map((f) => [f.path, f.problem.type]);
};
const problemOf = (text: string) => read(text).problem?.type;

describe('readJson: the value', () => {
  it("is JSON.parse's: __proto__ an own plain key, the last of repeated keys wins at the first one's place", () => {
    const r = read('{"a":1,"__proto__":{"polluted":1},"b":2,"a":3,"constructor":{"prototype":1}}');
    const v = r.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['a', '__proto__', 'b', 'constructor']);
    expect(Object.hasOwn(v, '__proto__')).toBe(true);
    expect(v.a).toBe(3);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(r.findings).toEqual([]);
  });

  it('refuses text that is not JSON as JSON.parse does', () => {
    for (const text of [
      '',
      ' ',
      '{',
      '{"a":}',
      "{'a':1}",
      '{"a":1,}',
      'NaN',
      '[1]x',
      '{"a":1}{"b":2}',
      '"\\x"',
      '01',
      '1.',
      '-',
      '"\u0001"',
    ]) {
      expect(() => JSON.parse(text), text).toThrow();
      expect(read(text), text).toEqual({
        problem: { type: 'json_invalid', msg: 'JSON decode error: the body is not valid JSON' },
      });
    }
    for (const text of ['0', '"x"', 'null', '[]', ' {} ', '-0.0e-0']) expect(read(text).problem, text).toBeUndefined();
  });

  it('puts numbers at the timestamp paths back as written where the parsed value hides it', () => {
    const r = read(
      '{"created_at":1700000000.0,"events":[{"created_at":17e8},{"created_at":1700000000},{"created_at":9007199254740993}],"x":{"created_at":1.0}}',
    );
    expect(canonical(r.value)).toBe(
      canonical({
        created_at: written('1700000000.0'),
        events: [
          { created_at: written('17e8') },
          { created_at: 1700000000 },
          { created_at: written('9007199254740993') },
        ],
        x: { created_at: 1 },
      }),
    );
    // The last of repeated keys counts.
    expect(read('{"created_at":1.0,"created_at":1}').value).toEqual({ created_at: 1 });
    expect(canonical(read('{"created_at":1,"created_at":1.0}').value)).toBe(canonical({ created_at: written('1.0') }));
    expect(read('{"events":[{"created_at":1.0}],"events":[{"created_at":2}]}').value).toEqual({
      events: [{ created_at: 2 }],
    });
  });
});

describe('readJson: findings', () => {
  it('names each value JSON.parse would alter, with its path, in text order', () => {
    expect(
      found('{"a":9007199254740993,"b":[1,{"c":1e400}],"d":"\\ud800","e":-1e-400,"f":9007199254740992,"g":5e-324}'),
    ).toEqual([
      [['a'], 'number_precision'],
      [['b', 1, 'c'], 'number_precision'],
      [['d'], 'string_unicode'],
      [['e'], 'number_precision'],
    ]);
    expect(read('[12345678901234567890]').findings?.[0]?.problem.msg).toMatch(
      /cannot be stored exactly; send it as a string/,
    );
    expect(read('[1e999]').findings?.[0]?.problem.msg).toMatch(/out of range/);
    expect(read('[1e-999]').findings?.[0]?.problem.msg).toMatch(/too small/);
  });

  it('finds lone surrogates escaped or raw, in values and keys, and passes pairs', () => {
    expect(found('["\\ud83d\\ude00", "😀", "\\uD83D\\uDE00"]')).toEqual([]);
    expect(found('["\\ud83d\\u0041", "\\udc00", "x\\ud800"]')).toEqual([
      [[0], 'string_unicode'],
      [[1], 'string_unicode'],
      [[2], 'string_unicode'],
    ]);
    // A pair may be half escaped, half raw: JSON.parse joins the halves.
    expect(found('["\\ud83d\ude00", "\ud83d\\ude00", {"\ud83d\\ude00":1}]')).toEqual([]);
    expect(found('{"\ud83d\\ude00":1e400,"😀":1}')).toEqual([]); // the same key twice
    expect(found('{"a":["\ud800"], "\udfff":1, "\\ud800":2}')).toEqual([
      [['a', 0], 'string_unicode'],
      [['\udfff'], 'string_unicode'],
      [['\ud800'], 'string_unicode'],
    ]);
  });

  it('drops what a repeated key replaced, also when the key is spelled with escapes, and only then', () => {
    expect(found('{"a":1e400,"a":1}')).toEqual([]);
    expect(found('{"a":1,"a":1e400}')).toEqual([[['a'], 'number_precision']]);
    expect(found('{"a":{"b":1e400,"c":1e400},"d":1e400,"\\u0061":{"c":2}}')).toEqual([[['d'], 'number_precision']]);
    expect(found('{"x":{"a":[1e400],"b":0,"a":0},"y":{"a":[1e400],"b":0}}')).toEqual([
      [['y', 'a', 0], 'number_precision'],
    ]);
    // Order: the surviving occurrence's place in the text.
    expect(found('{"a":1e400,"b":1e400,"a":"\\ud800"}')).toEqual([
      [['b'], 'number_precision'],
      [['a'], 'string_unicode'],
    ]);
  });

  it('skips the precision check at the timestamp paths (the timestamp rules judge those numbers)', () => {
    expect(
      found('{"created_at":9007199254740993,"events":[{"created_at":1e400}],"meta":{"created_at":1e400}}'),
    ).toEqual([[['meta', 'created_at'], 'number_precision']]);
  });

  it('judges numbers of any length like Number() would', () => {
    expect(
      found(
        `[1${'0'.repeat(5000)}, 0.${'0'.repeat(5000)}1, 1${'0'.repeat(5000)}e-5000, 0.${'0'.repeat(5000)}1e5000, -${'9'.repeat(400)}.5e-400]`,
      ),
    ).toEqual([
      [[0], 'number_precision'],
      [[1], 'number_precision'],
    ]);
    // At the edges, where every digit counts: half the smallest double (2^-1075: rounds to 0, ties
    // to even) and the overflow threshold (2^1024 - 2^970: rounds to Infinity), each with a tail
    // far past 800 digits that tips it, or not.
    const half = (5n ** 1075n).toString();
    const threshold = (2n ** 1024n - 2n ** 970n).toString();
    const below = (2n ** 1024n - 2n ** 970n - 1n).toString();
    const zeros = '0'.repeat(900);
    for (const lexeme of [
      `${half}e-1075`,
      `${half}${zeros}1e-${1075 + 901}`,
      `${half}${zeros}e-${1075 + 900}`,
      `0.${'0'.repeat(1074)}${half}`,
      `${threshold}.0`,
      `${below}.${'9'.repeat(900)}`,
      `${below}.${zeros}1`,
      `${threshold}${zeros}e-900`,
      `-${threshold}.${zeros}`,
    ]) {
      const value = Number(lexeme);
      const expected = Number.isFinite(value) && value !== 0 ? [] : [[[0], 'number_precision']];
      expect(found(`[${lexeme}]`), `${lexeme.slice(0, 20)}... (${value})`).toEqual(expected);
    }
  });
});

describe('readJson: limits', () => {
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  it(`takes ${MAX_JSON_DEPTH} levels and refuses one more; malformed text is json_invalid however deep`, () => {
    expect(read(nested(MAX_JSON_DEPTH)).problem).toBeUndefined();
    expect(problemOf(nested(MAX_JSON_DEPTH + 1))).toBe('json_depth');
    expect(problemOf(`{"a":${'{"b":'.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}}`)).toBe('json_depth');
    expect(problemOf(nested(100_000))).toBe('json_depth');
    expect(problemOf(`${nested(100_000)},`)).toBe('json_invalid');
  });

  it(`takes ${MAX_JSON_FINDINGS} altered values and refuses one more, counting those a repeated key replaced`, () => {
    const values = (k: number) => Array(k).fill('1e999').join(',');
    expect(read(`{"x":[${values(MAX_JSON_FINDINGS)}]}`).findings).toHaveLength(MAX_JSON_FINDINGS);
    const over = read(`{"x":[${values(MAX_JSON_FINDINGS + 1)}]}`);
    expect(over.problem).toEqual({
      type: 'json_unsafe_values',
      msg: expect.stringMatching(/more than 100 values that cannot be stored as sent/),
    });
    expect(
      problemOf(
        `{${Array(MAX_JSON_FINDINGS + 1)
          .fill('"a":"\\udc00"')
          .join(',')}}`,
      ),
    ).toBe('json_unsafe_values');
  });
});

// ------------------------------------------------------------------ fuzz

type Node =
  | { kind: 'number'; lexeme: string }
  | { kind: 'string'; literal: string }
  | { kind: 'constant'; text: string }
  | { kind: 'array'; items: Node[] }
  | { kind: 'object'; members: [string, Node][] };

const LEXEMES = [
  '0',
  '-0',
  '1',
  '-17',
  '1.5',
  '1.0',
  '17e8',
  '1E+2',
  '1e-7',
  '9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '-9007199254740993',
  '12345678901234567890',
  '1e308',
  '1e309',
  '-1e400',
  '1e-400',
  '5e-324',
  '2e-324',
  '3e-324',
  `1${'0'.repeat(450)}`,
  `0.${'0'.repeat(450)}1`,
  `1${'0'.repeat(450)}e-440`,
  `-0.${'0'.repeat(450)}`,
  `0.${'0'.repeat(450)}1e+460`,
  `${'9'.repeat(200)}.${'9'.repeat(300)}e100`,
  `-${'1'.repeat(300)}.${'0'.repeat(300)}E-${'0'.repeat(400)}630`,
  `10.${'0'.repeat(500)}e-325`,
  '1700000000',
  '1700000000.0',
];
const SEGMENTS = [
  'a',
  'b',
  ' ',
  'é',
  '😀',
  '\\n',
  '\\"',
  '\\\\',
  '\\/',
  '\\u0041',
  '\\u00e9',
  '\\ud83d\\ude00',
  '\\ud800',
  '\\udfff',
  '\\ud83d',
  '\ud800',
  '\udc00',
  '\\u0061',
];
const KEYS = [
  '"a"',
  '"b"',
  '"\\u0061"',
  '"__proto__"',
  '"constructor"',
  '"created_at"',
  '"events"',
  '"\\ud800"',
  '"😀"',
  '""',
];

const stringLiteral = fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 6 }).map((parts) => `"${parts.join('')}"`);
const leaf: fc.Arbitrary<Node> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...LEXEMES).map((lexeme): Node => ({ kind: 'number', lexeme })) },
  { weight: 2, arbitrary: stringLiteral.map((literal): Node => ({ kind: 'string', literal })) },
  { weight: 1, arbitrary: fc.constantFrom('true', 'false', 'null').map((text): Node => ({ kind: 'constant', text })) },
);
const { tree } = fc.letrec<{ tree: Node }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('tree'), { maxLength: 4 }).map((items): Node => ({ kind: 'array', items })),
    fc
      .array(fc.tuple(fc.oneof(fc.constantFrom(...KEYS), stringLiteral), tie('tree')), { maxLength: 5 })
      .map((members): Node => ({ kind: 'object', members })),
  ),
}));
/** No lone surrogate (a pair is one code point, not of category Cs). */
const wellFormed = (s: string) => !/\p{Cs}/u.test(s);
const space = fc.constantFrom('', '', ' ', '\n', '\t ', '\r\n');

/** The JSON text of a tree, with whitespace from `ws` between tokens. */
function render(node: Node, ws: () => string): string {
  switch (node.kind) {
    case 'number':
      return node.lexeme;
    case 'string':
      return node.literal;
    case 'constant':
      return node.text;
    case 'array':
      return `[${ws()}${node.items.map((n) => `${render(n, ws)}${ws()}`).join(`,${ws()}`)}]`;
    case 'object':
      return `{${ws()}${node.members.map(([k, v]) => `${k}${ws()}:${ws()}${render(v, ws)}${ws()}`).join(`,${ws()}`)}}`;
  }
}

/** What the guard must report, computed from the tree with JSON.parse's rules and Number()/BigInt as the oracle. */
function model(root: Node) {
  const findings: [JsonPath, string][] = [];
  const literals: [JsonPath, string][] = [];
  const watched = (path: JsonPath) =>
    (path.length === 1 && path[0] === 'created_at') ||
    (path.length === 3 && path[0] === 'events' && typeof path[1] === 'number' && path[2] === 'created_at');
  const visit = (node: Node, path: JsonPath) => {
    if (node.kind === 'number') {
      const value = Number(node.lexeme);
      const integer = /^-?\d+$/.test(node.lexeme);
      if (watched(path)) {
        if (!(integer && Number.isSafeInteger(value))) literals.push([path, node.lexeme]);
      } else if (
        !Number.isFinite(value) ||
        (integer && BigInt(node.lexeme) !== BigInt(value)) ||
        (value === 0 && /[1-9]/.test(node.lexeme.split(/[eE]/)[0]!))
      ) {
        findings.push([path, 'number_precision']);
      }
    } else if (node.kind === 'string') {
      if (!wellFormed(JSON.parse(node.literal) as string)) findings.push([path, 'string_unicode']);
    } else if (node.kind === 'array') {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    } else if (node.kind === 'object') {
      const keys = node.members.map(([k]) => JSON.parse(k) as string);
      node.members.forEach(([, v], m) => {
        if (keys.lastIndexOf(keys[m]!) !== m) return; // replaced by a later occurrence
        if (!wellFormed(keys[m]!)) findings.push([[...path, keys[m]!], 'string_unicode']);
        visit(v, [...path, keys[m]!]);
      });
    }
  };
  visit(root, []);
  return { findings, literals };
}

describe('readJson: fuzz against JSON.parse and a model', () => {
  it('parses as JSON.parse, finds exactly the altered values that survive, keeps timestamps as written', () => {
    fc.assert(
      fc.property(tree, fc.array(space, { minLength: 1, maxLength: 8 }), (root, spaces) => {
        let k = 0;
        const text = render(root, () => spaces[k++ % spaces.length]!);
        const r = read(text);
        const expected = model(root);
        expect(r.problem, text).toBeUndefined();
        expect(
          r.findings!.map((f) => [f.path, f.problem.type]),
          text,
        ).toEqual(expected.findings);
        // The value: JSON.parse's, with each timestamp literal as written.
        const parsed = JSON.parse(text) as unknown;
        for (const [path, lexeme] of expected.literals) {
          let holder = parsed as Record<PropertyKey, unknown>;
          for (const step of path.slice(0, -1)) holder = holder[step] as Record<PropertyKey, unknown>;
          holder[path[path.length - 1]!] = written(lexeme);
        }
        expect(canonical(r.value), text).toBe(canonical(parsed));
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses exactly the texts JSON.parse refuses', () => {
    const edit = fc.tuple(
      fc.nat(),
      fc.constantFrom('', ',', '"', '{', '}', '[', ']', ':', '\\', '0', '-', '.', 'e', ' ', '\u0000'),
      fc.nat({ max: 2 }),
    );
    fc.assert(
      fc.property(tree, fc.array(edit, { minLength: 1, maxLength: 3 }), (root, edits) => {
        let text = render(root, () => '');
        for (const [at, insert, remove] of edits) {
          const i = at % (text.length + 1);
          text = text.slice(0, i) + insert + text.slice(i + remove);
        }
        let parsed: unknown;
        let valid = true;
        try {
          parsed = JSON.parse(text);
        } catch {
          valid = false;
        }
        const r = readJson(text);
        if (!valid) expect(r.problem?.type, text).toBe('json_invalid');
        else if (r.problem === undefined) expect(canonical(r.value), text).toBe(canonical(parsed));
        else expect(['json_depth', 'json_unsafe_values'], text).toContain(r.problem.type);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses nesting past the limit and findings past the cap, whatever the mix', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 0, max: 110 }),
        fc.boolean(),
        (depth, count, objects) => {
          let text = `[${Array(count).fill('1e999').join(',')}]`;
          for (let d = 1; d < depth; d++) text = objects && d % 2 ? `{"k":${text}}` : `[${text},0]`;
          const r = readJson(text);
          if (depth > MAX_JSON_DEPTH)
            expect(r.problem?.type).toBe('json_depth'); // the 65th opening comes before any value
          else if (count > MAX_JSON_FINDINGS) expect(r.problem?.type).toBe('json_unsafe_values');
          else expect(r.findings).toHaveLength(count);
        },
      ),
      { numRuns: 500 },
    );
  });
});
