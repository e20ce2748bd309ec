/**
 * The JSON guard's cost on hostile shapes (issue 15): the time of the guard (readJson as the request
 * guard calls it: parse, checks, timestamps as written) per MiB, against JSON.parse of the same body,
 * over the adversarial bodies of the property suite (test/robustness/support/adversarial.ts).
 * In this process, interleaved rounds, the median of each.
 */
import { readJson } from '../../functions/http/json-guard.js';
import { TIMESTAMP_PATHS, WrittenNumber } from '../../functions/shared/timestamps.js';
import { adversarialBodies, MIB } from '../robustness/support/adversarial.js';
import { median } from './stats.js';

const timed = (f: () => unknown) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};

/** Per body: median ms per MiB of the guard and of JSON.parse, and their ratio. `worst`: the longest per MiB (guard_worst_ratio). */
export function measureGuard(rounds = 15) {
  const bodies = adversarialBodies('bench-guard', 'bench', Math.floor(Date.now() / 1000));
  const [guardMs, parseMs] = [bodies.map((): number[] => []), bodies.map((): number[] => [])];
  const options = { watched: TIMESTAMP_PATHS, asWritten: (lexeme: string) => new WrittenNumber(lexeme) };
  // Round 0 warms the code paths up and is not counted.
  for (let round = 0; round <= rounds; round++) {
    bodies.forEach((b, k) => {
      const [g, p] = [timed(() => readJson(b.text, options)), timed(() => JSON.parse(b.text))];
      if (round > 0) (guardMs[k]!.push(g), parseMs[k]!.push(p));
    });
  }
  const rows = bodies.map((b, k) => {
    const [bytes, g, p] = [Buffer.byteLength(b.text), median(guardMs[k]!), median(parseMs[k]!)];
    return { shape: b.name, bytes, guardMsPerMib: g / (bytes / MIB), parseMsPerMib: p / (bytes / MIB), ratio: g / p };
  });
  const highest = (f: (r: (typeof rows)[number]) => number) => rows.reduce((a, b) => (f(b) > f(a) ? b : a));
  return { rounds, rows, worst: highest((r) => r.guardMsPerMib), highestRatio: highest((r) => r.ratio) };
}
