/**
 * Start-up of every function: each measurement is a fresh Node process that imports the bundle (what
 * Lambda's INIT phase does) and then serves one request (the first invocation, in which the handler
 * builds its DynamoDB client lazily and sends its first DynamoDB call). The baseline bundle builds a
 * DynamoDB document client while it is imported and sends one GetItem when invoked. All processes
 * run with the environment and NODE_OPTIONS the stack gives the functions, against DynamoDB Local.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { apiEvent } from './events.js';
import type { BuiltBundle } from './bundles.js';
import { median, quantile, round } from './stats.js';

/** The request each function serves in its first invocation: each makes one DynamoDB round trip if it can. */
export const FIRST_REQUESTS: Record<string, { event: APIGatewayProxyEventV2; expect: number; dynamo: string }> = {
  create_session: {
    // A created_at outside the window: the handler looks the session up once (is it a retry?) and answers 400.
    event: apiEvent({ method: 'POST', path: '/session', body: { session_id: 'startup-s', search_query: 'q', search_results: [{ object_id: 'o1', rank: 1 }], created_at: 1_000_000 } }),
    expect: 400,
    dynamo: '1 GetItem',
  },
  get_session: {
    event: apiEvent({ method: 'GET', path: '/session', query: { session_id: 'startup-unknown' } }),
    expect: 404,
    dynamo: '1 Query (the session partition)',
  },
  push_events: {
    event: apiEvent({ method: 'POST', path: '/session/events', body: { session_id: 'startup-unknown', events: [{ event_id: 'e1', object_id: 'o1' }] } }),
    expect: 404,
    dynamo: '1 GetItem',
  },
  mark_session_irrelevant: {
    event: apiEvent({ method: 'POST', path: '/session/irrelevant', body: { session_id: 'startup-unknown' } }),
    expect: 404,
    dynamo: '1 UpdateItem (condition fails)',
  },
  release_batch: {
    // A retry of a finished release (see STARTUP_FIXTURES): answered from the release record.
    event: apiEvent({ method: 'POST', path: '/internal/batch/release', body: { release_id: 'startup-release' } }),
    expect: 200,
    dynamo: '1 GetItem',
  },
  get_batch_sessions: {
    event: apiEvent({ method: 'GET', path: '/internal/batch/sessions', query: { batch_id: 'startup-unknown' } }),
    expect: 404,
    dynamo: '1 GetItem',
  },
  get_batch: {
    event: apiEvent({ method: 'GET', path: '/internal/batch', query: { batch_id: 'startup-unknown' } }),
    expect: 404,
    dynamo: '1 GetItem',
  },
  list_batches: {
    event: apiEvent({ method: 'GET', path: '/internal/batches' }),
    expect: 200,
    dynamo: '1 Query (the batch log; then the listed batches)',
  },
  start_export: {
    event: apiEvent({ method: 'POST', path: '/internal/batch/export', body: { batch_id: 'startup-unknown', export_id: 'startup-export' } }),
    expect: 404,
    dynamo: '1 GetItem',
  },
  get_export: {
    event: apiEvent({ method: 'GET', path: '/internal/batch/export', query: { export_id: 'startup-unknown' } }),
    expect: 404,
    dynamo: '1 Query (the export partition)',
  },
  not_found: {
    event: apiEvent({ method: 'GET', path: '/nowhere' }),
    expect: 404,
    dynamo: 'none',
  },
  baseline: {
    event: apiEvent({ method: 'GET', path: '/baseline' }),
    expect: 404,
    dynamo: '1 GetItem',
  },
};

/** Items the first requests expect in the start-up table. */
export const STARTUP_FIXTURES: Record<string, unknown>[] = [
  {
    pk: 'RELEASE#startup-release',
    sk: 'RELEASE',
    releaseId: 'startup-release',
    batchId: 'startup-batch',
    nextBatchId: 'startup-next-batch',
    state: 'released',
    releasedAt: 1_700_000_000_000,
    sessionCount: 0,
  },
];

const RUNNER = `// Written by lib/bench/startup.ts: one cold start, timed from inside the process.
import dc from 'node:diagnostics_channel';
const boot = performance.now();
const [bundleUrl, eventJson, functionName] = process.argv.slice(2);
// Time spent waiting for DynamoDB: the union of the intervals in which an HTTP request is out.
let open = 0, since = 0, waitMs = 0;
const begin = () => { if (open++ === 0) since = performance.now(); };
const end = ({ request }) => { if (request.__benchDone) return; request.__benchDone = true; if (--open === 0) waitMs += performance.now() - since; };
dc.subscribe('http.client.request.start', begin);
dc.subscribe('http.client.response.finish', end);
dc.subscribe('http.client.request.error', end);
const c0 = process.cpuUsage();
const t0 = performance.now();
const mod = await import(bundleUrl);
const t1 = performance.now();
const c1 = process.cpuUsage(c0);
const started = Date.now();
const context = {
  callbackWaitsForEmptyEventLoop: true, functionName, functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:' + functionName, memoryLimitInMB: '512',
  awsRequestId: 'startup', logGroupName: '/aws/lambda/' + functionName, logStreamName: 'bench',
  getRemainingTimeInMillis: () => 29000 - (Date.now() - started), done() {}, fail() {}, succeed() {},
};
let status;
try {
  const res = await mod.handler(JSON.parse(eventJson), context);
  status = res && res.statusCode;
} catch (err) {
  status = 'threw: ' + (err && err.message);
}
const t2 = performance.now();
const c2 = process.cpuUsage(c0);
const mem = process.memoryUsage();
process.stdout.write('\\n@@BENCH ' + JSON.stringify({ boot, importMs: t1 - t0, firstMs: t2 - t1, waitMs, importCpuMs: (c1.user + c1.system) / 1000, coldCpuMs: (c2.user + c2.system) / 1000, status, rssMb: mem.rss / 1048576, heapMb: mem.heapUsed / 1048576 }) + '\\n');
process.exit(0);
`;

export interface StartupSample {
  boot: number;
  importMs: number;
  firstMs: number;
  /** Of firstMs, the time an HTTP request to DynamoDB was out (waiting for DynamoDB Local). */
  waitMs: number;
  importCpuMs: number;
  coldCpuMs: number;
  wallMs: number;
  status: number | string;
  rssMb: number;
}

/** One bundle to measure: `name` is its operation (which first request it gets), `key` is unique. */
export interface StartupTarget extends BuiltBundle {
  key: string;
  /** `deployed`, or the variant it belongs to; ratios compare with the baseline of the same group (or of `deployed`). */
  group: string;
  /** Extra environment for this bundle's processes (e.g. NODE_OPTIONS). */
  env?: Record<string, string>;
}

export interface StartupResult {
  name: string;
  key: string;
  group: string;
  logicalId: string;
  bytes: number;
  mapBytes: number;
  dynamo: string;
  runs: number;
  /** Medians, ms. */
  importMs: number;
  firstMs: number;
  waitMs: number;
  /** Import + first request - the time waiting for DynamoDB's answers: the function's own start-up work. */
  initMs: number;
  initP90Ms: number;
  /** Import + first request, the DynamoDB round trips included. */
  coldMs: number;
  coldP90Ms: number;
  /** CPU time (user + system) of import + first request: less sensitive to other load on the machine. */
  coldCpuMs: number;
  importCpuMs: number;
  wallMs: number;
  rssMb: number;
  initRatio?: number;
  coldRatio?: number;
  importRatio?: number;
  coldCpuRatio?: number;
}

export interface StartupOptions {
  bundles: StartupTarget[];
  runs: number;
  /** Environment of every process (the functions' Lambda environment). */
  env: Record<string, string>;
  nodeArgs?: string[];
  workDir: string;
  log?: (line: string) => void;
}

function runOnce(runner: string, bundle: StartupTarget, baseEnv: Record<string, string>, nodeArgs: string[]): Promise<StartupSample> {
  const env = { ...baseEnv, ...bundle.env };
  const request = FIRST_REQUESTS[bundle.name];
  if (!request) throw new Error(`No first request for ${bundle.name}`);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [...nodeArgs, runner, pathToFileURL(bundle.file).href, JSON.stringify(request.event), bundle.logicalId],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const wallMs = performance.now() - started;
      const line = out.split('\n').find((l) => l.startsWith('@@BENCH '));
      if (!line) {
        reject(new Error(`Start-up run of ${bundle.name} failed (exit ${code}):\n${err.slice(-2000)}\n${out.slice(-2000)}`));
        return;
      }
      const sample = JSON.parse(line.slice('@@BENCH '.length)) as Omit<StartupSample, 'wallMs'>;
      if (sample.status !== request.expect) {
        reject(new Error(`Start-up run of ${bundle.name} answered ${sample.status}, expected ${request.expect}:\n${out.slice(-2000)}\n${err.slice(-2000)}`));
        return;
      }
      resolve({ ...sample, wallMs });
    });
  });
}

function shuffle<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/**
 * Runs `runs` fresh processes per bundle, all bundles interleaved in a new random order each round,
 * so that every comparison is made under the same conditions.
 */
export async function measureStartup(options: StartupOptions): Promise<StartupResult[]> {
  const runner = join(options.workDir, 'startup-runner.mjs');
  writeFileSync(runner, RUNNER);
  const nodeArgs = options.nodeArgs ?? [];
  const samples = new Map<string, StartupSample[]>(options.bundles.map((b) => [b.key, []]));
  // Warm the file cache and the JIT-independent parts (disk reads) once per bundle; not counted.
  for (const b of options.bundles) await runOnce(runner, b, options.env, nodeArgs);
  for (let round = 0; round < options.runs; round++) {
    for (const b of shuffle(options.bundles)) samples.get(b.key)!.push(await runOnce(runner, b, options.env, nodeArgs));
    if (options.log && (round + 1) % 5 === 0) options.log(`  start-up: ${round + 1}/${options.runs} rounds`);
  }
  const results = options.bundles.map((b): StartupResult => {
    const s = samples.get(b.key)!;
    const cold = s.map((x) => x.importMs + x.firstMs);
    const init = s.map((x) => x.importMs + x.firstMs - x.waitMs);
    return {
      name: b.name,
      key: b.key,
      group: b.group,
      logicalId: b.logicalId,
      bytes: b.bytes,
      mapBytes: b.mapBytes,
      dynamo: FIRST_REQUESTS[b.name]!.dynamo,
      runs: s.length,
      importMs: round(median(s.map((x) => x.importMs))),
      firstMs: round(median(s.map((x) => x.firstMs))),
      waitMs: round(median(s.map((x) => x.waitMs))),
      initMs: round(median(init)),
      initP90Ms: round(quantile(init, 0.9)),
      coldMs: round(median(cold)),
      coldP90Ms: round(quantile(cold, 0.9)),
      coldCpuMs: round(median(s.map((x) => x.coldCpuMs))),
      importCpuMs: round(median(s.map((x) => x.importCpuMs))),
      wallMs: round(median(s.map((x) => x.wallMs))),
      rssMb: round(median(s.map((x) => x.rssMb)), 1),
    };
  });
  const baselineOf = (group: string) =>
    results.find((r) => r.name === 'baseline' && r.group === group) ?? results.find((r) => r.name === 'baseline' && r.group === 'deployed');
  for (const r of results) {
    const base = baselineOf(r.group);
    if (base) {
      r.initRatio = round(r.initMs / base.initMs, 3);
      r.coldRatio = round(r.coldMs / base.coldMs, 3);
      r.importRatio = round(r.importMs / base.importMs, 3);
      r.coldCpuRatio = round(r.coldCpuMs / base.coldCpuMs, 3);
    }
  }
  return results;
}
