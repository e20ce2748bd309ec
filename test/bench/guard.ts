/**
 * The JSON guard's cost on hostile shapes (issue 15): the time of the guard (readJson as the request
 * guard calls it: parse, checks, timestamps as written) per MiB, against JSON.parse of the same body,
 * over the adversarial bodies of the property suite (test/robustness/support/adversarial.ts).
 * In this process, interleaved rounds, the median of each.
 */
import { readJson } from '../../functions/http/json-guard.js';
import { TIMESTAMP_PATHS, WrittenNumber } from '../../functions/shared/timestamps.js';
import { adversarialBodies, MIB } from '../robustness/support/adversarial.js';

/** Per body: median ms per MiB of the guard and of JSON.parse, and their ratio. `worst`: the longest per MiB (guard_worst_ratio). */
export type GuardResult = ReturnType<typeof measureGuard>;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function measureGuard(rounds = 15) {
  const bodies = adversarialBodies('bench-guard', 'bench', Math.floor(Date.now() / 1000));
  const guardMs = bodies.map((): number[] => []);
  const parseMs = bodies.map((): number[] => []);
  const options = { watched: TIMESTAMP_PATHS, asWritten: (lexeme: string) => new WrittenNumber(lexeme) };
  // Round 0 warms the code paths up and is not counted.
  for (let round = 0; round <= rounds; round++) {
    bodies.forEach((b, k) => {
      let t = performance.now();
      readJson(b.text, options);
      const g = performance.now() - t;
      t = performance.now();
      JSON.parse(b.text);
      const p = performance.now() - t;
      if (round > 0) {
        guardMs[k]!.push(g);
        parseMs[k]!.push(p);
      }
    });
  }
  const rows = bodies.map((b, k) => {
    const mib = Buffer.byteLength(b.text) / MIB;
    const g = median(guardMs[k]!);
    const p = median(parseMs[k]!);
    return {
      shape: b.name,
      bytes: Buffer.byteLength(b.text),
      guardMsPerMib: g / mib,
      parseMsPerMib: p / mib,
      ratio: g / p,
    };
  });
  return {
    rounds,
    rows,
    worst: rows.reduce((a, b) => (b.guardMsPerMib > a.guardMsPerMib ? b : a)),
    highestRatio: rows.reduce((a, b) => (b.ratio > a.ratio ? b : a)),
  };
}
