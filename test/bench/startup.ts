/**
 * Start-up of every function and of the baseline, bundled as the stack deploys them, each measured in
 * fresh processes (startup-runner.ts), interleaved in a new random order each round.
 */
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import type { Operation } from '../../functions/http/api-routes.js';
import { BUNDLING, PROJECT_ROOT } from '../../lib/clickstream-function.js';
import { fallbackRoute, routes } from '../../lib/routes.js';
import { httpEvent } from '../support/events.js';
import { median, round } from './stats.js';

/** Where bundles go: inside node_modules (ignored by git). */
const BENCH_CACHE_DIR = join(PROJECT_ROOT, 'node_modules', '.cache', 'clickstream-bench');
const RUNNER = join(BENCH_CACHE_DIR, 'startup-runner.mjs');
const first = (name: string) => FIRST_REQUESTS[name as keyof typeof FIRST_REQUESTS];

type EventSpec = Parameters<typeof httpEvent>[0];
const q = (path: string, query: Record<string, string> = {}): EventSpec => ({ method: 'GET', path, query });
const p = (path: string, body: unknown): EventSpec => ({ method: 'POST', path, body });
const unknown = 'startup-unknown';
// A created_at outside the window: the handler looks the session up once (is it a retry?) and answers 400.
const results = [{ object_id: 'o1', rank: 1 }];
const late = { session_id: 'startup-s', search_query: 'q', search_results: results, created_at: 1_000_000 };
const oneEvent = { session_id: unknown, events: [{ event_id: 'e1', object_id: 'o1' }] };
// A new request (a new request_id each run; the HMAC key from CLICKSTREAM_ERASURE_KEY, as locally).
const erasure = () => ({ user_id: 'startup-user', request_id: `startup-erasure-${randomUUID()}` });
/**
 * The request each function serves first, its expected status, and the DynamoDB work it needs (as little as it
 * can). Keyed by every operation of the route table: a function without a first request fails the type check.
 */
const FIRST_REQUESTS: Record<Operation | 'not_found' | 'baseline', [EventSpec, number, string]> = {
  create_session: [p('/session', late), 400, '1 GetItem'],
  get_session: [q('/session', { session_id: unknown }), 404, '1 Query (the session partition)'],
  push_events: [p('/session/events', oneEvent), 404, '1 GetItem'],
  mark_session_irrelevant: [p('/session/irrelevant', { session_id: unknown }), 404, '1 UpdateItem (condition fails)'],
  // A retry of a finished release (STARTUP_FIXTURES): answered from the release record.
  release_batch: [p('/internal/batch/release', { release_id: 'startup-release' }), 200, '1 GetItem'],
  get_batch_sessions: [q('/internal/batch/sessions', { batch_id: unknown }), 404, '1 GetItem'],
  get_batch: [q('/internal/batch', { batch_id: unknown }), 404, '1 GetItem'],
  list_batches: [q('/internal/batches'), 200, '1 Query (the batch log; then the listed batches)'],
  start_export: [p('/internal/batch/export', { batch_id: unknown, export_id: 'startup-export' }), 404, '1 GetItem'],
  get_export: [q('/internal/batch/export', { export_id: unknown }), 404, '1 Query (the export partition)'],
  erase_user: [p('/internal/users/erase', erasure), 202, '1 TransactWriteItems (the request and its queue entry)'],
  get_erasure: [q('/internal/users/erase', { request_id: unknown }), 404, '1 GetItem'],
  not_found: [q('/nowhere'), 404, 'none'],
  baseline: [q('/baseline'), 404, '1 GetItem'],
};

/** Items the first requests expect in the start-up table. */
export const STARTUP_FIXTURES: Record<string, unknown>[] = [
  {
    ...{ pk: 'RELEASE#startup-release', sk: 'RELEASE', releaseId: 'startup-release', batchId: 'startup-batch' },
    ...{ nextBatchId: 'startup-next-batch', state: 'released', releasedAt: 1_700_000_000_000, sessionCount: 0 },
  },
];

/** esbuild options equivalent to the flags NodejsFunction passes for `BUNDLING`. */
const build = (entry: string, outfile: string, o: esbuild.BuildOptions = {}) =>
  esbuild.build({
    ...{ entryPoints: [join(PROJECT_ROOT, entry)], outfile, bundle: true, platform: 'node', target: BUNDLING.target },
    ...{ format: String(BUNDLING.format) as esbuild.Format, minify: BUNDLING.minify, sourcemap: BUNDLING.sourceMap },
    ...{
      sourcesContent: BUNDLING.sourcesContent,
      mainFields: [...BUNDLING.mainFields],
      banner: { js: BUNDLING.banner },
    },
    ...{ external: [...BUNDLING.externalModules], logLevel: 'warning', absWorkingDir: PROJECT_ROOT, ...o },
  });

/** Builds the functions and the baseline into `BENCH_CACHE_DIR/bundles/<logicalId>/index.mjs`, and the runner. */
export async function buildBundles() {
  const outDir = join(BENCH_CACHE_DIR, 'bundles');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const baseline = { operation: 'baseline', logicalId: 'Baseline', entry: 'test/bench/baseline.ts' };
  const built = [];
  for (const { operation: name, logicalId, entry } of [...routes, fallbackRoute, baseline]) {
    const file = join(outDir, logicalId, 'index.mjs');
    await build(entry, file);
    const mapBytes = existsSync(`${file}.map`) ? statSync(`${file}.map`).size : 0;
    built.push({ name, logicalId, file, bytes: statSync(file).size, mapBytes });
  }
  await build('test/bench/startup-runner.ts', RUNNER, { minify: false, sourcemap: false, banner: {} });
  return built;
}
/** `name`: the operation (route table), or `baseline`. */
type Bundle = Awaited<ReturnType<typeof buildBundles>>[number];

/** One process: import, first request and, of it, the time an HTTP request to DynamoDB was out (ms). */
type Sample = Record<'importMs' | 'firstMs' | 'waitMs' | 'coldCpuMs', number> & { status: number | string };

function runOnce(bundle: Bundle, env: Record<string, string>): Promise<Sample> {
  const [spec, expect] = first(bundle.name);
  const body = typeof spec.body === 'function' ? (spec.body as () => unknown)() : spec.body; // new each run
  const event = JSON.stringify(httpEvent({ ...spec, body }));
  return new Promise((resolve, reject) => {
    const args = [RUNNER, pathToFileURL(bundle.file).href, event, bundle.logicalId];
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('@@BENCH '));
      const sample = line ? (JSON.parse(line.slice('@@BENCH '.length)) as Sample) : undefined;
      if (sample?.status === expect) return resolve(sample);
      const why = `Start-up run of ${bundle.name} (exit ${code}) answered ${sample?.status}, expected ${expect}`;
      reject(new Error(`${why}:\n${out.slice(-3000)}`));
    });
  });
}

const shuffle = <T>(items: T[]): T[] =>
  items
    .map((item) => [Math.random(), item] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([, item]) => item);

/**
 * `runs` fresh processes per bundle (after one uncounted run each that warms the file cache). Medians,
 * ms: init = import + first request - the waits for DynamoDB (the function's own start-up work); cold
 * = the same with the round trips; CPU (user + system) moves less with other load. Ratios are paired
 * by round, so that a slow stretch of the run weighs on both sides of each ratio.
 */
export async function measureStartup(
  bundles: Bundle[],
  runs: number,
  env: Record<string, string>,
  log: (line: string) => void,
) {
  const samples = new Map<string, Sample[]>(bundles.map((b) => [b.name, []]));
  for (const b of bundles) await runOnce(b, env);
  for (let r = 0; r < runs; r++) {
    for (const b of shuffle(bundles)) samples.get(b.name)!.push(await runOnce(b, env));
    if ((r + 1) % 5 === 0) log(`  start-up: ${r + 1}/${runs} rounds`);
  }
  const [base, init] = [samples.get('baseline')!, (x: Sample) => x.importMs + x.firstMs - x.waitMs];
  const [cold, cpu] = [(x: Sample) => x.importMs + x.firstMs, (x: Sample) => x.coldCpuMs];
  return bundles.map(({ name, logicalId, bytes, mapBytes }) => {
    const s = samples.get(name)!;
    const med = (f: (x: Sample) => number) => round(median(s.map(f)));
    // A ratio: the median over the rounds of the bundle's figure over the baseline's in the same round.
    const ratio = (f: (x: Sample) => number) => round(median(s.map((x, i) => f(x) / f(base[i]!))), 3);
    return {
      ...{ name, logicalId, bytes, mapBytes, dynamo: first(name)[2], runs: s.length },
      ...{ importMs: med((x) => x.importMs), firstMs: med((x) => x.firstMs), waitMs: med((x) => x.waitMs) },
      ...{ initMs: med(init), coldMs: med(cold), coldCpuMs: med(cpu) },
      ...{ initRatio: ratio(init), coldRatio: ratio(cold), coldCpuRatio: ratio(cpu) },
    };
  });
}
