/** The console table, docs/benchmarks.md and the README summary, from one run's figures. */
import type { CapacityRow } from './capacity.js';
import type { CostRow } from './cost.js';
import type { DurationRow } from './durations.js';
import type { Machine } from './machine.js';
import type { PRICES } from './prices.js';
import type { StartupResult } from './startup.js';
import { fmt, fmtRatio, kb, mdTable, textTable, usd } from './stats.js';
import type { GuardResult } from './guard.js';
import type { Target } from './targets.js';
import { MAX_COST_RATIO, MAX_INIT_RATIO, MIN_PUSH_RATIO } from './targets.js';
import type { ThroughputResult } from './throughput.js';

export interface StartupVariant {
  name: string;
  /** bundling: an alternative way to build the same code; breakdown: a part replaced, to see its cost. */
  kind: 'bundling' | 'breakdown';
  description: string;
  results: StartupResult[];
}

export interface BenchResults {
  version: number;
  machine: Machine;
  plan: Record<string, unknown>;
  memoryMb: number;
  /** Settings the figures depend on. */
  settings: { batchShards: number; blockSize: number; putConcurrency: number; memoryMb: number };
  prices: typeof PRICES;
  bundling: Record<string, unknown>;
  startup: { results: StartupResult[]; variants: StartupVariant[] };
  capacity: CapacityRow[];
  durations: DurationRow[];
  throughput: ThroughputResult;
  cost: CostRow[];
  soak?: Record<string, unknown>;
  /** The JSON guard on adversarial bodies (guard_worst_ratio). */
  guard?: GuardResult;
  seconds: number;
  targets: Target[];
}

const yes = (met: boolean) => (met ? 'met' : '**missed**');
const machineLine = (m: Machine) =>
  `${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}; Node ${m.node}; ${m.java}; ${m.date.slice(0, 16).replace('T', ' ')} UTC`;

function startupTable(results: StartupResult[], md: boolean) {
  const header = ['function', 'bundle', 'map', 'import ms', '1st request ms', 'of which DynamoDB', 'init ms', 'vs baseline', 'CPU vs baseline', 'with round trips ms', 'vs baseline', 'DynamoDB calls'];
  const rel = (r: StartupResult, v: number | undefined) => (r.name === 'baseline' ? '1.00x' : fmtRatio(v ?? Number.NaN));
  const rows = results.map((r) => [
    r.name,
    kb(r.bytes),
    kb(r.mapBytes),
    fmt(r.importMs),
    fmt(r.firstMs),
    fmt(r.waitMs),
    fmt(r.initMs),
    rel(r, r.initRatio),
    rel(r, r.coldCpuRatio),
    fmt(r.coldMs),
    rel(r, r.coldRatio),
    r.dynamo,
  ]);
  return md ? mdTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']) : textTable(header, rows);
}

function capacityTable(rows: CapacityRow[], md: boolean) {
  const header = ['operation', 'scenario', 'RRU', 'WRU', 'floor RRU', 'floor WRU', 'cost vs floor'];
  const body = rows.map((r) => [r.operation, r.scenario, fmt(r.reads, 2), fmt(r.writes, 2), fmt(r.floorReads, 2), fmt(r.floorWrites, 2), fmtRatio(r.ratio)]);
  return md ? mdTable(header, body, ['l', 'l', 'r', 'r', 'r', 'r', 'r']) : textTable(header, body);
}

function throughputTable(t: ThroughputResult, md: boolean) {
  const header = ['scenario', 'path', 'requests', 'items/s', 'requests/s', 'p50 ms', 'p99 ms', 'vs floor'];
  const body = t.rows.map((r) => [
    r.scenario,
    r.mode === 'api' ? 'local HTTP server' : 'SDK floor',
    String(r.requests),
    fmt(r.itemsPerSec, 0),
    fmt(r.requestsPerSec, 1),
    fmt(r.p50Ms),
    fmt(r.p99Ms),
    r.mode === 'floor' ? '1.00x' : fmtRatio(r.scenario === 'push_events' ? t.pushRatio : r.scenario === 'batch_read' ? t.readRatio : t.createRatio),
  ]);
  return md ? mdTable(header, body, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r']) : textTable(header, body);
}

function costTable(rows: CostRow[], md: boolean) {
  const header = ['per million', 'items a request', 'DynamoDB reads', 'DynamoDB writes', 'HTTP API', 'Lambda requests', 'Lambda GB-s', 'total', 'floor', 'vs floor', 'logs (apart)'];
  const body = rows.map((r) => [
    r.unit === 'event' ? 'events' : 'sessions',
    String(r.itemsPerRequest),
    usd(r.dynamoReads),
    usd(r.dynamoWrites),
    usd(r.httpApi),
    usd(r.lambdaRequests),
    usd(r.lambdaDuration),
    usd(r.total),
    usd(r.floor),
    fmtRatio(r.ratio),
    usd(r.logs),
  ]);
  return md ? mdTable(header, body) : textTable(header, body);
}

function durationTable(rows: DurationRow[], memoryMb: number) {
  return mdTable(
    ['handler', 'scenario', 'calls', 'p50 ms', 'p99 ms', 'mean ms', 'CPU ms (mean)', `Lambda ${memoryMb} MB est. ms`, 'log bytes'],
    rows.map((d) => [d.operation, d.scenario, String(d.count), fmt(d.p50Ms), fmt(d.p99Ms), fmt(d.meanMs), fmt(d.cpuMeanMs), fmt(d.lambdaMs), String(d.logBytes)]),
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

function targetsTable(targets: Target[]) {
  return mdTable(
    ['target', 'measured', ''],
    targets.map((t) => [t.target, t.measured, yes(t.met)]),
    ['l', 'l', 'l'],
  );
}

export function renderConsole(r: BenchResults): string {
  return [
    `Machine: ${machineLine(r.machine)}`,
    '',
    'Start-up (medians; init = import + first request)',
    startupTable(r.startup.results, false),
    '',
    'DynamoDB capacity per request (RRU/WRU = read/write request units)',
    capacityTable(r.capacity, false),
    '',
    `Throughput at concurrency ${r.throughput.concurrency}`,
    throughputTable(r.throughput, false),
    '',
    `Cost in ${r.prices.region}, USD`,
    costTable(r.cost, false),
    '',
    'Targets',
    textTable(['target', 'measured', ''], r.targets.map((t) => [t.target, t.measured, t.met ? 'met' : 'MISSED'])),
  ].join('\n');
}

/** For README.md: why a target was missed and what would close it (details in docs/benchmarks.md). */
function missedNote(r: BenchResults, key: string): string {
  if (key === 'init_ratio') {
    const base = r.startup.results.find((s) => s.name === 'baseline')!;
    const fns = r.startup.results.filter((s) => s.name !== 'baseline' && s.name !== 'not_found');
    const overhead = [...fns.map((f) => f.initMs - base.initMs)].sort((a, b) => a - b)[Math.floor(fns.length / 2)]!;
    return (
      `Besides the SDK that the baseline has too, every function loads zod (request validation), Powertools Logger and ` +
      `Metrics (request log, EMF metrics) and middy: about ${fmt(overhead)} ms more than the baseline's ${fmt(base.initMs)} ms here, where ` +
      `${MAX_INIT_RATIO}x allows ${fmt(base.initMs * (MAX_INIT_RATIO - 1))} ms. The bundles are already trimmed (831 KB to about 410 KB: zod/mini, ` +
      `no source maps at run time); hand-written validation, or a few lines of our own instead of Powertools, would close the ` +
      `rest, at the cost of code to maintain (docs/benchmarks.md, section 1).`
    );
  }
  if (key === 'push_throughput') return 'On this 2-core machine the API path shares the cores with DynamoDB Local, the load generator and the HTTP hop; see section 3 of docs/benchmarks.md.';
  return 'See docs/benchmarks.md.';
}

/** The short table for README.md. */
export function renderSummary(r: BenchResults): string {
  const push = r.throughput.rows.find((x) => x.scenario === 'push_events' && x.mode === 'api')!;
  const create = r.throughput.rows.find((x) => x.scenario === 'create_session' && x.mode === 'api')!;
  const ev = r.cost.find((c) => c.key === 'events_100')!;
  const ses = r.cost.find((c) => c.key === 'sessions')!;
  const missed = r.targets.filter((t) => !t.met).map((t) => `- **Missed: ${t.target}** (${t.measured}). ${missedNote(r, t.key)}`);
  return [
    '## Benchmarks',
    '',
    `Latest \`npm run bench\`${r.plan.quick ? ' (--quick)' : ''}: ${machineLine(r.machine)}. What each figure measures, its floor, and the`,
    'reasons behind every ratio: [docs/benchmarks.md](docs/benchmarks.md).',
    '',
    targetsTable(r.targets),
    '',
    ...(missed.length > 0 ? [...missed, ''] : []),
    mdTable(
      ['figure', 'value'],
      [
        ['start-up: init, median (slowest function / SDK-only baseline)', `${fmt(Math.max(...r.startup.results.filter((s) => s.name !== 'baseline').map((s) => s.initMs)))} ms / ${fmt(r.startup.results.find((s) => s.name === 'baseline')!.initMs)} ms`],
        ['largest bundle', kb(Math.max(...r.startup.results.filter((s) => s.name !== 'baseline').map((s) => s.bytes)))],
        [`push_events, 100 events a request, concurrency ${r.throughput.concurrency}`, `${fmt(push.itemsPerSec, 0)} events/s, p50 ${fmt(push.p50Ms)} ms, p99 ${fmt(push.p99Ms)} ms`],
        [`create_session, concurrency ${r.throughput.concurrency}`, `${fmt(create.itemsPerSec, 0)} sessions/s, p50 ${fmt(create.p50Ms)} ms, p99 ${fmt(create.p99Ms)} ms`],
        [`cost per million events (100 a request, ${r.prices.region})`, `${usd(ev.total)} (floor ${usd(ev.floor)})`],
        [`cost per million sessions (${r.prices.region})`, `${usd(ses.total)} (floor ${usd(ses.floor)})`],
      ],
      ['l', 'l'],
    ),
  ].join('\n');
}

const find = <T extends { key: string }>(rows: T[], key: string) => rows.find((r) => r.key === key)!;

export function renderMarkdown(r: BenchResults): string {
  const base = r.startup.results.find((s) => s.name === 'baseline')!;
  const fns = r.startup.results.filter((s) => s.name !== 'baseline' && s.name !== 'not_found');
  const worst = fns.reduce((a, b) => ((b.initRatio ?? 0) > (a.initRatio ?? 0) ? b : a));
  const best = fns.reduce((a, b) => ((b.initRatio ?? 9) < (a.initRatio ?? 9) ? b : a));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const typicalOverhead = median(fns.map((f) => f.initMs - base.initMs));
  const allowed = base.initMs * (MAX_INIT_RATIO - 1);
  const initTarget = r.targets.find((t) => t.key === 'init_ratio')!;
  const variant = (name: string) => r.startup.variants.find((v) => v.name === name);
  const vr = (name: string, fn: string) => variant(name)?.results.find((x) => x.name === fn);
  const dep = variant('deployed');
  const maps = variant('source-maps-on');
  const ext = variant('sdk-external');
  const keep = variant('keep-names');

  const create = find(r.capacity, 'create_session');
  const p1 = find(r.capacity, 'push_events_1');
  const p100 = find(r.capacity, 'push_events_100');
  const p1000 = find(r.capacity, 'push_events_1000');
  const dup = find(r.capacity, 'push_events_duplicate');
  const getS = find(r.capacity, 'get_session');
  const rel = find(r.capacity, 'release_batch');
  const page = find(r.capacity, 'get_batch_sessions');
  const retry = find(r.capacity, 'create_session_retry');

  const tp = r.throughput;
  const apiPush = tp.rows.find((x) => x.scenario === 'push_events' && x.mode === 'api')!;
  const floorPush = tp.rows.find((x) => x.scenario === 'push_events' && x.mode === 'floor')!;
  const apiCreate = tp.rows.find((x) => x.scenario === 'create_session' && x.mode === 'api')!;
  const floorCreate = tp.rows.find((x) => x.scenario === 'create_session' && x.mode === 'floor')!;
  const pushTarget = r.targets.find((t) => t.key === 'push_throughput')!;

  const c1 = find(r.cost, 'events_1');
  const c10 = find(r.cost, 'events_10');
  const c100 = find(r.cost, 'events_100');
  const c1000 = find(r.cost, 'events_1000');
  const cs = find(r.cost, 'sessions');
  const d100 = r.durations.find((d) => d.key === 'push_events_100')!;
  const pr = r.prices;

  const out: string[] = [];
  out.push(`# Benchmarks

Generated by \`npm run bench\`${r.plan.quick ? ' (with `--quick`)' : ''} on ${r.machine.date.slice(0, 10)}; rerun it to refresh every figure
(\`docs/benchmarks.json\` holds them all). The run took ${r.seconds} s.

**Machine:** ${machineLine(r.machine)}. Load average when the run started: ${r.machine.loadAverageAtStart.join(', ')}
(other work on the machine makes every figure noisier; each comparison below is made inside one run,
with the two sides interleaved, so that such load touches both sides alike).

Each figure stands beside a **floor**: the same work done the cheapest way the platform allows. The
ratio says how far the service is from it, and the targets are set on the ratios.

## Targets

${targetsTable(r.targets)}
`);

  // ------------------------------------------------------------------ start-up
  out.push(`## 1. Start-up (cold start)

**What is measured.** Every function of the route table (and the \`$default\` fallback) is bundled the
way the stack deploys it: the local esbuild with the options of \`BUNDLING\` in
\`lib/clickstream-function.ts\` (ESM, minified, target node22, every dependency bundled, the AWS SDK
included, source map written beside the bundle), translated flag by flag as \`NodejsFunction\` does.
Then, ${r.startup.results[0]!.runs} times per bundle, interleaved in a new random order each round, a **fresh
Node process** with the functions' environment (the variables the stack sets, a 512 MB Lambda name and
size, DynamoDB Local as endpoint) does what a cold Lambda does that serves one request:

- **import**: \`import()\` of the bundle, i.e. Lambda's INIT phase (module code, Powertools logger and
  metrics, zod schemas, middy chain);
- **first request**: one invocation with an API Gateway (payload 2.0) event. The handlers build their
  DynamoDB client lazily, so this is where the client is built, credentials and endpoint are resolved
  and the first DynamoDB call is signed and sent; each function gets a request that needs as little
  DynamoDB work as possible (last column), and its answer is checked.

**init** is import + first request **minus the time spent waiting for DynamoDB's answers** (measured
inside the process with Node's \`http.client\` diagnostics channels: the time an HTTP request to DynamoDB
Local was out); the median over the runs, and the target is set on it. It is the function's own
start-up work: loading its code, building its clients, and handling one request, signing and sending
its first DynamoDB call included. The DynamoDB answer time is left out because it is not the
function's (DynamoDB Local's latency on this loaded 2-core machine also varies more than anything
measured here), and because the functions differ in what their first request needs (get_session reads
the session and its events in parallel). "with round trips" is the same figure with the waits left
in, beside its own ratio. The **baseline** is a bundle, built with the same options, that only builds
a DynamoDB document client (with the functions' client options) when imported and sends one GetItem
when invoked: the least any function of this service can do. "CPU vs baseline" compares CPU time (user
+ system, which excludes waiting by nature) and moves less with other load on the machine.

${startupTable(r.startup.results, true)}

The fallback route (\`not_found\`) never touches DynamoDB and does not bundle the SDK, hence its
small figures; it is left out of the discussion below.

**Result.** Bundles: the largest is ${kb(Math.max(...fns.map((f) => f.bytes)))} (target 600 KB: ${yes(r.targets.find((t) => t.key === 'bundle_size')!.met)}).
Init: the functions take ${fmt(Math.min(...fns.map((f) => f.initMs)))} to ${fmt(Math.max(...fns.map((f) => f.initMs)))} ms against the baseline's ${fmt(base.initMs)} ms,
${fmtRatio(best.initRatio!)} to ${fmtRatio(worst.initRatio!)}; the target of ${MAX_INIT_RATIO}x allows ${fmt(allowed)} ms above the
baseline, the typical function spends ${fmt(typicalOverhead)} ms more. Target ${yes(initTarget.met)}${initTarget.met ? '.' : `: by ${fmt(worst.initMs - base.initMs * MAX_INIT_RATIO)} ms for the slowest function (${worst.name}).`}
`);

  if (r.startup.variants.length > 0) {
    const variantRows = (kind: StartupVariant['kind']) =>
      r.startup.variants
        .filter((v) => v.kind === kind || v.name === 'deployed')
        .map((v) => {
          const p = v.results.find((x) => x.name === 'push_events')!;
          const b = v.results.find((x) => x.name === 'baseline') ?? vr('deployed', 'baseline')!;
          const d = vr('deployed', 'push_events')!;
          return [v.name, v.description, kb(p.bytes), fmt(p.initMs), v.name === 'deployed' ? '' : `${p.initMs - d.initMs >= 0 ? '+' : ''}${fmt(p.initMs - d.initMs)}`, fmt(b.initMs), fmtRatio(p.initMs / b.initMs)];
        });
    const header = ['variant', 'what changes', 'push_events bundle', 'push_events init ms', 'vs deployed', 'baseline init ms', 'ratio'];
    const align: ('l' | 'r')[] = ['l', 'l', 'r', 'r', 'r', 'r', 'r'];
    out.push(`**Bundling alternatives**, measured in the same run on push_events and the baseline only
(${r.startup.variants[0]!.results[0]!.runs} processes each, interleaved with all the processes above, so under the same conditions):

${mdTable(header, variantRows('bundling'), align)}
`);
    const lines: string[] = [];
    if (dep && maps) {
      const a = vr('deployed', 'push_events')!;
      const b = vr('source-maps-on', 'push_events')!;
      lines.push(`- **Source maps at run time** (\`--enable-source-maps\`, which the stack used to set): Node reads and
  parses the ${kb(b.mapBytes)} map while it loads the bundle, which costs push_events ${fmt(b.initMs - a.initMs)} ms of every cold start
  here (the baseline ${fmt(vr('source-maps-on', 'baseline')!.initMs - vr('deployed', 'baseline')!.initMs)} ms). The stack no longer sets it; the maps still ship beside the bundles, so
  setting \`NODE_OPTIONS=--enable-source-maps\` on a function turns mapped stack traces back on while
  debugging. It lowers both sides of the ratio, so it improves the absolute figure more than the ratio.`);
    }
    if (ext) {
      const a = vr('deployed', 'push_events')!;
      const b = vr('sdk-external', 'push_events')!;
      lines.push(`- **Leaving the SDK out** (\`@aws-sdk/*\` external, relying on the SDK of the Node.js 22/24 Lambda runtimes)
  shrinks the bundle to ${kb(b.bytes)} and changes init by ${b.initMs - a.initMs >= 0 ? '+' : ''}${fmt(b.initMs - a.initMs)} ms: the SDK then loads as hundreds of
  unminified files instead of one minified bundle. It would also run whatever SDK version the runtime
  carries instead of the one the tests ran with (client-dynamodb and lib-dynamodb are pinned in
  package.json). The stack keeps the SDK bundled. (Locally the external SDK comes from node_modules; in
  Lambda it would come from the runtime's own copy, also a tree of separate files; not measured here.)`);
    }
    if (keep) {
      const a = vr('deployed', 'push_events')!;
      const b = vr('keep-names', 'push_events')!;
      lines.push(`- **keepNames** (function and class names kept through minification, for readable stack traces
  without source maps) costs ${kb(b.bytes - a.bytes)} and ${b.initMs - a.initMs >= 0 ? '+' : ''}${fmt(b.initMs - a.initMs)} ms here; not adopted.`);
    }
    out.push(lines.join('\n'));
    const breakdown = variantRows('breakdown');
    if (breakdown.length > 1) {
      out.push(`
**Where the time above the baseline goes.** Every function bundles the same SDK as the baseline. To
see what the rest costs, the same run builds push_events with one part at a time replaced by a
stand-in (\`lib/bench/stubs\`; diagnostic bundles, never deployed):

${mdTable(header, breakdown, align)}

`);
    }
  }

  {
    const share = (name: string) => {
      const v = vr(name, 'push_events');
      if (!v) return 'not measured in this run';
      const ms = vr('deployed', 'push_events')!.initMs - v.initMs;
      return ms < 1 ? 'no measurable share in this run' : `about ${fmt(ms)} ms here`;
    };
    const lead = initTarget.met
      ? `**The target is met**, with little margin: the functions sit at ${fmtRatio(best.initRatio!)} to ${fmtRatio(worst.initRatio!)}, and on a loaded machine a run
can land on either side of ${MAX_INIT_RATIO}x. What is left above the baseline, and how it could shrink:`
      : `**What would close the gap** (${fmt(worst.initMs - base.initMs * MAX_INIT_RATIO)} ms for ${worst.name}; ${typicalOverhead > allowed ? `the typical function needs ${fmt(typicalOverhead - allowed)} ms` : 'the typical function is at the limit'}):`;
    out.push(`
${lead}

- **zod** (${share('without-zod')}): the schemas already use \`zod/mini\`, zod's tree-shakable form, which cut
  zod's share to about a third (see "Changes made"). Hand-written validation would remove the rest, at the price of
  keeping the contract's pydantic-style 422 details (loc, msg, type for every rule) right by hand.
- **Powertools Logger and Metrics** (${share('without-powertools')}): each builds a \`Console\` on process.stdout at import. Writing
  the one request log line and the EMF metrics with a few lines of our own would remove most of it;
  they carry the request log and the dashboard's metrics (operations work) and were left as they are.
- **\`node:stream/web\`** (${share('without-stream-web')}): \`@middy/core\` imports it at load for response streaming, which this
  service does not use; a middy without that import (or an esbuild alias for it) would save it.

Differences of 2 to 3 ms are within this machine's noise, so the shares are approximate.${(() => {
      const p = vr('deployed', 'push_events');
      const b = vr('deployed', 'baseline');
      if (!p || !b) return '';
      const parts = ['without-zod', 'without-powertools', 'without-stream-web']
        .map((n) => vr(n, 'push_events'))
        .filter((v): v is StartupResult => v !== undefined)
        .reduce((a, v) => a + Math.max(0, p.initMs - v.initMs), 0);
      return ` Together
they account for about ${fmt(parts)} of the ${fmt(p.initMs - b.initMs)} ms that push_events spends above the baseline; the rest is spread
thin over middy, the service's own code (handlers, domain, storage, error mapping) and the first
request's own work (validation, the request log line, the EMF metrics).`;
    })()}

`);
  }

  out.push(`**Lambda, not this machine.** Lambda runs Node.js 24 on Graviton (ARM64) with a CPU share that grows
with memory (about 29% of a vCPU at 512 MB), so absolute init times there are longer than here, and
Lambda adds its own runtime start before the INIT phase. Both sides of the ratio scale alike, so the
ratio carries over better than the milliseconds. Since August 2025 Lambda bills the INIT phase too;
at one cold start per many thousand requests it does not move the cost figures below.
`);

  // ------------------------------------------------------------------ capacity
  out.push(`## 2. DynamoDB capacity per operation

**What is measured.** The real handlers run in the bench process against DynamoDB Local. A middleware
on the functions' own document client (\`documentClient().middlewareStack\`, added from bench code,
no function code changed) sets \`ReturnConsumedCapacity=TOTAL\` on every command and adds up the
capacity each request consumed: RRU = read request units, WRU = write request units (the on-demand
names of read and write capacity units). DynamoDB Local reports consumed capacity for successful
single-item calls, Queries and BatchGetItem, and the meter takes those figures as they come. Where it
does not report what DynamoDB bills, the meter computes the units from item sizes with DynamoDB's
rules, and says so:

- **transactions**: DynamoDB Local's figure for a TransactWriteItems is not per item (three small
  items come back as 2 units); DynamoDB bills 2 WRU per KB for every item of a transaction, which the
  meter computes from the items (Put: the new item; Update: the item as stored afterwards);
- **failed conditional writes** (e.g. an event that is already stored): DynamoDB Local returns no
  capacity with the error, DynamoDB bills the write anyway, by the size of the existing item (the
  handler asks for it with \`ReturnValuesOnConditionCheckFailure\`), at least 1 WRU;
- **cancelled transactions**: counted as if written (an upper bound; DynamoDB does not document
  this case precisely);
- **empty Query results** and **BatchGetItem keys without an item**: DynamoDB Local reports 0, DynamoDB
  bills the minimum read (1 RRU strongly consistent).

The **floor** is the least DynamoDB's pricing allows for the same work (last column of the second table:
what it reads or writes). **cost vs floor** compares the two at on-demand prices (a WRU costs 5 RRU), so
that reads and writes can be weighed together.

${capacityTable(r.capacity, true)}

${mdTable(['scenario', 'floor: the same work done the cheapest way', 'DynamoDB calls made (units)'], r.capacity.map((c) => [`${c.operation}: ${c.scenario}`, c.floor, Object.entries(c.byOp).map(([op, v]) => `${op} ${fmt(v.calls, v.calls % 1 ? 2 : 0)} (${fmt(v.units, v.units % 1 ? 2 : 0)})`).join(', ')]), ['l', 'l', 'l'])}

**Events.** A push costs one strongly consistent GetItem of the session (the contract's 404 for an
unknown session) plus one conditional PutItem per event: ${fmt(p1000.writes / p1000.accepted!, 3)} WRU per accepted event at 1,000 events a
request, ${fmt(p100.writes / p100.accepted!, 3)} at 100, ${fmt(p1.writes / p1.accepted!, 3)} at 1 (target: at most 1.1 WRU per event under 1 KB: ${yes(r.targets.find((t) => t.key === 'writes_per_event')!.met)}).
The session read is ${fmt(p100.reads, 0)} RRU per request, so cost vs floor is ${fmtRatio(p1.ratio)} for single-event requests and
${fmtRatio(p100.ratio)} at 100 events. The events are written one by one, not with BatchWriteItem, because each needs
its own condition (first write wins); a conditional PutItem costs the same units as an unconditional one.

**Duplicates.** Pushing the same 100 events again costs ${fmt(dup.reads, 0)} RRU + ${fmt(dup.writes, 0)} WRU: each event's conditional put
fails and DynamoDB bills the failed write by the stored item's size, so a duplicate push costs exactly
what the first push cost (target: no more than a first push: ${yes(r.targets.find((t) => t.key === 'duplicate_push')!.met)}). Against its own floor (reading
the 100 stored events back with one Query, ${fmt(dup.floorReads, 0)} RRU) a duplicate push is ${fmtRatio(dup.ratio)}: the service writes
first and learns that an event is a duplicate from the failed condition. Reading first would make the
common case, a first push, dearer (a BatchGetItem of 100 keys is 100 RRU, +20% on a first push; a Query
of the whole session grows with the session), to save on duplicates, which only come from client
retries. Write-first is the cheaper choice overall.

**Sessions.** create_session writes ${fmt(create.writes, 2)} WRU against a floor of ${fmt(create.floorWrites, 0)} (one PutItem of the session
item): the session, its batch-membership item and its shard's session counter go in one transaction
(3 items at 2 WRU each), which is what makes the contract's "assigned, atomically, to the batch that
is collecting at that moment" hold under concurrent releases. Besides, each process reserves session
numbers ${r.settings.blockSize} at a time per shard (one UpdateItem, so about ${fmt(1 / r.settings.blockSize, 2)} WRU per create in the long run;
${create.writes - 6 > 0.0005 ? `${fmt(create.writes - 6, 3)} WRU and ${fmt(create.reads, 3)} RRU per create in this sample` : 'none fell into this sample'}). A retried create (same content) goes down the
same path and finds the session in the cancelled transaction: ${fmt(retry.writes, 0)} WRU counted as an upper bound, against
a floor of one read. Closing the gap would mean giving up the atomic assignment (for example keeping
the membership in the session item and indexing it with a GSI, which still costs a GSI write per
session, and gives up strongly consistent batch reads); not a target, and left as is.

**Reads.** get_session reads the session and its events with one Query of the session's partition (${fmt(getS.reads, 0)} RRU against a
floor of ${fmt(getS.floorReads, 0)}). A page of get_batch_sessions walks the batch's shards in order (each shard it crosses costs a members
Query, an empty one the 1-RRU minimum) and reads each session with its events in one Query of its partition: ${fmt(page.reads, 0)} RRU against ${fmt(page.floorReads, 0)}.
${batchReadLine(r)}
release_batch reads all ${r.settings.batchShards} shard pointers, switches each with a
conditional update and records the release in two transactions: ${fmt(rel.reads, 0)} RRU + ${fmt(rel.writes, 0)} WRU, against a floor of one
write; about ${usd(((rel.reads * pr.dynamoReadPerUnit + rel.writes * pr.dynamoWritePerUnit) * 1e6) / 1e6)} per release, negligible beside the events it releases.
`);

  // ------------------------------------------------------------------ throughput
  out.push(`## 3. Throughput and latency

**What is measured.** The local HTTP server (\`lib/local/server.ts\`: the route table turned into API
Gateway payload 2.0 events for the real handlers) runs in a process of its own, with the functions'
environment, logs and EMF metrics on (written to a pipe that is read and dropped). The bench process
sends requests to it over HTTP on 127.0.0.1 from ${tp.concurrency} workers (a closed loop: each worker sends its next
request when the last one has answered; keep-alive connections, bodies serialized from a template so
that the load generator itself costs little CPU) for ${fmt(tp.segmentMs / 1000, 0)} s per segment, ${tp.rounds} round${tp.rounds > 1 ? 's' : ''} of four
segments after an uncounted warm-up; every loop is also bounded in requests. Every answer is checked
(200, all 100 events accepted, session created).

The **floor** is the same items written straight to DynamoDB Local with the SDK, from a process of its
own (\`lib/bench/floor.ts\`), at the same concurrency, with the same client options as the functions and
the same in-request parallelism: for push_events, 100 event items a "request" (built by the service's
own \`eventItem\`) as conditional PutItems, ${r.settings.putConcurrency} in flight; for create_session, the same three-item
TransactWriteItems (session, batch membership, shard counter). It skips HTTP, the local server's event
translation and the handler (validation, the session read, logging, metrics). Segments alternate API,
floor, API, floor, so that drifting load on the machine touches both sides.

${throughputTable(tp, true)}

**push_events** reaches ${fmt(apiPush.itemsPerSec, 0)} events/s against the floor's ${fmt(floorPush.itemsPerSec, 0)}, ${fmtRatio(tp.pushRatio)} (target at least
${MIN_PUSH_RATIO}x: ${yes(pushTarget.met)}). Handled one at a time, a push of 100 events spends most of its CPU time (section 4)
in the SDK's 100 calls (marshalling, signing, HTTP), as the floor does. ${tp.pushRatio >= 0.95
    ? 'In this run the two are level: DynamoDB Local (Java) does most of the work on both paths and sets the pace.'
    : 'The gap comes from what else needs the two cores: DynamoDB Local (Java) does most of the work on both paths, and the API path adds the load generator, the HTTP hop, the session read and the validation of 100 events.'}
Other load on the machine moves these figures from run to run (between about 1,000 and 1,900 events/s
on either side while this was written); the ratio moves less. **create_session** reaches
${fmt(apiCreate.itemsPerSec, 0)} sessions/s against the floor's ${fmt(floorCreate.itemsPerSec, 0)} (${fmtRatio(tp.createRatio)}; no target): its floor is a single
transaction, which leaves the HTTP hop, validation and the occasional number reservation more
weight. These are figures of this machine: in AWS each request runs in its own Lambda environment and
DynamoDB scales out, so what carries over is the ratio, not the events per second.
`);

  // ------------------------------------------------------------------ cost
  out.push(`## 4. Cost in AWS

**Prices** (${pr.region}, on-demand list prices, no free tier; ${pr.checked}; check the pricing pages before
relying on them; outbound data transfer of the small responses is not included): DynamoDB $${(pr.dynamoWritePerUnit * 1e6).toFixed(3)} per million WRU and $${(pr.dynamoReadPerUnit * 1e6).toFixed(3)} per million RRU
(Standard table class); API Gateway HTTP API $${(pr.httpApiPerRequest * 1e6).toFixed(2)} per million requests (first 300 million a month,
metered per 512 KB, and 1,000 events fit well within 512 KB); Lambda $${(pr.lambdaPerRequest * 1e6).toFixed(2)} per million requests
and $${pr.lambdaArmPerGbSecond} per GB-s on ARM64; CloudWatch Logs ingestion $${pr.logsPerGb.toFixed(2)} per GB.

**Handler durations** come from warm invocations of the real handlers in this process, one at a time
(as one Lambda environment serves requests), against DynamoDB Local. The Lambda estimate stretches
the measured CPU time to the CPU share Lambda gives ${r.memoryMb} MB (${fmt((r.memoryMb / 1769) * 100, 0)}% of a vCPU) and keeps the rest (waiting
for DynamoDB) as measured: estimate = wall + CPU x (1769/${r.memoryMb} - 1), billed per 1 ms. DynamoDB in AWS
answers single-item calls in a few ms, about what DynamoDB Local does here; the duration term is small
next to the request fees either way. The log bytes are what the handler wrote to stdout (the request log line and the EMF metrics).

${durationTable(r.durations, r.memoryMb)}

**Cost per million events or sessions** (capacity from section 2, durations above, ${r.memoryMb} MB ARM64).
The floor is the DynamoDB write floor of the same data plus API Gateway's price for the requests that
carry it. CloudWatch Logs ingestion of the logs and metrics is shown apart and is not in the total nor
in the target; X-Ray (sampled) and data storage are not included.

${costTable(r.cost, true)}

At ${c100.itemsPerRequest} events a request a million events cost ${usd(c100.total)} against a floor of ${usd(c100.floor)}: ${fmtRatio(c100.ratio)} (target
${MAX_COST_RATIO}x: ${yes(r.targets.find((t) => t.key === 'cost_per_million_events')!.met)}). The writes are the floor itself; the session read, the Lambda request fee and
${fmt(d100.billedMs, 0)} ms of Lambda time per request are spread over 100 events. The same holds at 1,000 events a
request (${fmtRatio(c1000.ratio)}) and at 10 (${fmtRatio(c10.ratio)}). At **one event a request** the per-request costs are not spread:
${usd(c1.total)} against ${usd(c1.floor)}, ${fmtRatio(c1.ratio)}${c1.ratio > MAX_COST_RATIO ? `, over ${MAX_COST_RATIO}x` : ''}: Lambda's request fee ($0.20 per million) and the session read
($0.125 per million) come on top of API Gateway's $1.00 for every single event. What closes that is
on the client side: send events in batches (the contract takes up to 1,000 a request). A million
sessions cost ${usd(cs.total)} against ${usd(cs.floor)} (${fmtRatio(cs.ratio)}), the transactional create of section 2 accounting for most
of the difference.
`);

  // ------------------------------------------------------------------ soak
  if (r.soak) {
    out.push(`## 5. Soak

Run with \`npm run bench -- --soak\` (or BENCH_SOAK=1): \`lib/bench/soak.ts\` sends a bounded mixed load to
the same local server and returns its figures, shown here as it returned them.

${mdTable(['figure', 'value'], flatten(r.soak).map(([k, v]) => [k, v]), ['l', 'l'])}
`);
  }

  out.push(`## Changes made for these figures

Start-up before and after each change, push_events against the baseline, measured with this bench's
start-up harness on this machine while the work was done (medians of 20 processes; other work on
the machine moved the absolute figures between those runs, so compare the ratios, and the figures
above are the ones of record):

${mdTable(
    ['step', 'push_events bundle', 'init / baseline'],
    [
      ['before: `import { z } from \'zod\'`, `--enable-source-maps`', '831 KB', '143 / 77 ms (1.85x)'],
      ['`import * as z from \'zod\'`', '476 KB', '91 / 71 ms (1.28x)'],
      ['no `--enable-source-maps` at run time', '476 KB', '73 / 56 ms (1.31x)'],
      ['schemas on `zod/mini`', '412 KB', '67 / 55 ms (1.21x)'],
      ['zod configured `jitless`', '412 KB', 'CPU 74.9 → 73.1 ms (1.21x → 1.19x in CPU time)'],
    ],
    ['l', 'r', 'l'],
  )}

- **zod through its namespace, then \`zod/mini\`** (\`functions/schemas/\`): \`import { z } from 'zod'\`
  pulls in a re-exported namespace object that esbuild cannot tree-shake, with all of zod's locales,
  JSON-schema conversion and codecs (443 KB of the 831 KB bundle); \`import * as z from 'zod'\` lets esbuild
  keep what the schemas use (83 KB). The schemas are now written with \`zod/mini\` (the same parser core,
  functions instead of methods, 12 KB plus the English messages, configured explicitly as the full zod
  does by default), which also cuts zod's share of start-up to about a third. The schemas accept, refuse, normalize and
  word their 422 details exactly as before: a differential check of the old and the new schemas on
  140,000 generated inputs (valid and invalid, every schema) found no difference in output or issues,
  and the test suite passes unchanged. \`functions/http/handler.ts\` and \`functions/http/errors.ts\` only
  changed their schema types (\`zod/mini\`'s type, zod core's error type).
- **zod without its JIT** (\`functions/schemas/shared.ts\`, \`jitless: true\`): by default zod compiles a parser
  for each object schema with \`new Function\` the first time it parses; a cold start pays for that
  compilation in its first request. The plain code path gives the same answers and, for these small
  objects, is no slower (a 1,000-event body parses in 0.40 ms instead of 0.50 ms here).
- **No source maps at run time** (\`lib/clickstream-function.ts\`): see section 1.
- The bench builds its bundles itself with \`BUNDLING\`; they come out byte for byte the size of the
  assets \`npx cdk synth\` builds (checked while this was written).

How to rerun: \`npm run bench\` (${Math.max(1, Math.round(r.seconds / 60))} min here${r.plan.quick ? ' with --quick' : ''}), \`npm run bench -- --quick\` for a shorter run,
\`npm run bench -- --soak\` to add the soak, \`npm run bench -- --render\` to rewrite this page and the README
table from \`docs/benchmarks.json\` without measuring. The bench starts its own DynamoDB Local (Java 17) in
memory and needs nothing else; it is not part of \`npm test\`.
`);
  return out.join('\n');
}

function batchReadLine(r: BenchResults): string {
  const row = r.capacity.find((c) => c.key === 'batch_read');
  const target = r.targets.find((t) => t.key === 'batch_read_units');
  if (!row || !target) return '';
  return `Read whole through the API (${row.scenario}), a released batch costs ${fmt(row.reads / row.sessions!, 3)} RRU per session against a floor of ${fmt(row.floorReads / row.sessions!, 3)} (target at most 1.1: ${yes(target.met)}); the rest is one members Query per shard and page and one batch read per page, which a real batch spreads over far more sessions per shard.`;
}

function flatten(value: unknown, prefix = ''): [string, string][] {
  if (value === null || typeof value !== 'object') return [[prefix || 'value', String(value)]];
  if (Array.isArray(value)) return [[prefix, JSON.stringify(value)]];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return flatten(v, key);
    return [[key, typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : Array.isArray(v) ? JSON.stringify(v) : String(v)]] as [string, string][];
  });
}
