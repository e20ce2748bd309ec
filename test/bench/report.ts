/**
 * The generated parts of the hand-written docs/benchmarks.md (between its `<!-- bench:NAME -->` and
 * `<!-- /bench:NAME -->` markers) and of README.md (between `<!-- bench:start -->` and its end marker).
 */
import type { BenchResults as R } from '../../bin/bench.js';
import { fmt, fmtRatio, kb, mdTable, round, usd } from './stats.js';

type Align = 'l' | 'r';
/** A markdown table from its columns: header, cell, alignment (the first column left, the others right, unless given). */
const table = <T>(rows: T[], ...cols: [string, (r: T) => string, Align?][]) =>
  mdTable(
    cols.map((c) => c[0]),
    rows.map((r) => cols.map((c) => c[1](r))),
    cols.map((c, i) => c[2] ?? (i ? 'r' : 'l')),
  );
const machineLine = (m: R['machine']) =>
  `${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}; Node ${m.node}; ${m.java}; ${m.date.slice(0, 16).replace('T', ' ')} UTC`;

const whole = (n: number) => fmt(n, n % 1 ? 2 : 0);
const callsMade = (c: R['capacity'][number]) =>
  Object.entries(c.byOp)
    .map(([op, v]) => `${op} ${whole(v.calls)} (${whole(v.units)})`)
    .join(', ');
/** Against the floor of its scenario (a floor row: 1.00x); the export against the direct-SDK reader's. */
const vsFloor = (rows: R['throughput']['rows'], r: R['throughput']['rows'][number]) => {
  const floor = rows.find((x) => x.mode === 'floor' && x.scenario === r.scenario.replace('batch_export', 'batch_read'));
  return fmtRatio(r.itemsPerSec / (floor?.itemsPerSec ?? Number.NaN));
};
const pairs = (rows: string[][], header = ['figure', 'value']) => mdTable(header, rows, ['l', 'l']);
const perMillion = (perUnit: number, digits: number) => `$${(perUnit * 1e6).toFixed(digits)} per million`;

export const guardTable = (g: R['guard']) =>
  table(
    g.rows,
    ['body', (r) => r.shape],
    ['KB', (r) => fmt(r.bytes / 1024, 0)],
    ['guard ms/MiB', (r) => fmt(r.guardMsPerMib)],
    ['JSON.parse ms/MiB', (r) => fmt(r.parseMsPerMib)],
    ['ratio', (r) => fmtRatio(r.ratio)],
  );

const targetsTable = (targets: R['targets']) =>
  table(
    targets,
    ['target', (t) => t.target],
    ['measured', (t) => t.measured, 'l'],
    ['', (t) => (t.met ? 'met' : '**missed**'), 'l'],
  );

/** Flattens the soak's figures into rows. */
const flatten = (v: unknown, prefix = ''): string[][] =>
  v !== null && typeof v === 'object' && !Array.isArray(v)
    ? Object.entries(v).flatMap(([k, x]) => flatten(x, prefix ? `${prefix}.${k}` : k))
    : [[prefix, typeof v === 'number' ? String(round(v, 3)) : typeof v === 'string' ? v : JSON.stringify(v)]];

/** The generated blocks of docs/benchmarks.md, by marker name. */
export function docBlocks(r: R): Record<string, string> {
  const [m, p] = [r.machine, r.prices];
  return {
    run: [
      `Figures of \`npm run bench\`${r.plan.quick ? ' (with `--quick`)' : ''}, run on ${m.date.slice(0, 10)} in ${r.seconds} s (\`docs/benchmarks.json\` holds them all).`,
      `**Machine:** ${machineLine(m)}. Load average when the run started: ${m.loadAverageAtStart.join(', ')}.`,
    ].join('\n'),
    targets: targetsTable(r.targets),
    startup: table(
      r.startup.results,
      ['function', (s) => s.name],
      ['bundle', (s) => kb(s.bytes)],
      ['map', (s) => kb(s.mapBytes)],
      ['import ms', (s) => fmt(s.importMs)],
      ['1st request ms', (s) => fmt(s.firstMs)],
      ['of which DynamoDB', (s) => fmt(s.waitMs)],
      ['init ms', (s) => fmt(s.initMs)],
      ['vs baseline', (s) => fmtRatio(s.initRatio!)],
      ['CPU vs baseline', (s) => fmtRatio(s.coldCpuRatio!)],
      ['with round trips ms', (s) => fmt(s.coldMs)],
      ['vs baseline', (s) => fmtRatio(s.coldRatio!)],
      ['DynamoDB calls', (s) => s.dynamo, 'l'],
    ),
    capacity: table(
      r.capacity,
      ['operation', (c) => c.operation],
      ['scenario', (c) => c.scenario, 'l'],
      ['RRU', (c) => fmt(c.reads, 2)],
      ['WRU', (c) => fmt(c.writes, 2)],
      ['floor RRU', (c) => fmt(c.floorReads, 2)],
      ['floor WRU', (c) => fmt(c.floorWrites, 2)],
      ['cost vs floor', (c) => fmtRatio(c.ratio)],
    ),
    calls: table(
      r.capacity,
      ['operation: scenario', (c) => `${c.operation}: ${c.scenario}`],
      ['floor: the cheapest way', (c) => c.floor, 'l'],
      ['DynamoDB calls made (units)', callsMade, 'l'],
    ),
    throughput: table(
      r.throughput.rows,
      ['scenario', (t) => t.scenario],
      ['path', (t) => (t.mode === 'api' ? 'local HTTP server' : 'SDK floor'), 'l'],
      ['requests', (t) => String(t.requests)],
      ['items/s', (t) => fmt(t.itemsPerSec, 0)],
      ['requests/s', (t) => fmt(t.requestsPerSec, 1)],
      ['p50 ms', (t) => fmt(t.p50Ms)],
      ['p99 ms', (t) => fmt(t.p99Ms)],
      ['vs floor', (t) => vsFloor(r.throughput.rows, t)],
    ),
    prices: `${pairs(
      [
        ['DynamoDB on-demand writes (Standard table class)', `${perMillion(p.dynamoWritePerUnit, 3)} WRU`],
        ['DynamoDB on-demand reads', `${perMillion(p.dynamoReadPerUnit, 3)} RRU`],
        ['API Gateway HTTP API', `${perMillion(p.httpApiPerRequest, 2)} requests (metered per 512 KB)`],
        ['Lambda requests', perMillion(p.lambdaPerRequest, 2)],
        ['Lambda duration, ARM64', `$${p.lambdaArmPerGbSecond} per GB-s`],
        ['CloudWatch Logs ingestion (apart)', `$${p.logsPerGb.toFixed(2)} per GB`],
      ],
      ['item', `price (${p.region})`],
    )}\n\n${p.checked}.`,
    durations: table(
      r.durations,
      ['handler', (d) => d.operation],
      ['scenario', (d) => d.scenario, 'l'],
      ['calls', (d) => String(d.count)],
      ['p50 ms', (d) => fmt(d.p50Ms)],
      ['p99 ms', (d) => fmt(d.p99Ms)],
      ['mean ms', (d) => fmt(d.meanMs)],
      ['CPU ms (mean)', (d) => fmt(d.cpuMeanMs)],
      [`Lambda ${r.memoryMb} MB est. ms`, (d) => fmt(d.lambdaMs)],
      ['log bytes', (d) => String(d.logBytes)],
    ),
    cost: table(
      r.cost,
      ['per million', (c) => (c.unit === 'event' ? 'events' : 'sessions')],
      ['items a request', (c) => String(c.itemsPerRequest)],
      ['DynamoDB reads', (c) => usd(c.dynamoReads)],
      ['DynamoDB writes', (c) => usd(c.dynamoWrites)],
      ['HTTP API', (c) => usd(c.httpApi)],
      ['Lambda requests', (c) => usd(c.lambdaRequests)],
      ['Lambda GB-s', (c) => usd(c.lambdaDuration)],
      ['total', (c) => usd(c.total)],
      ['floor', (c) => usd(c.floor)],
      ['vs floor', (c) => fmtRatio(c.ratio)],
      ['logs (apart)', (c) => usd(c.logs)],
    ),
    guard: guardTable(r.guard),
    soak: r.soak ? pairs(flatten(r.soak)) : 'Not run in the latest run (`npm run bench -- --soak`).',
  };
}

/** The README's section between its markers. */
export function renderSummary(r: R): string {
  const api = (s: string) => r.throughput.rows.find((x) => x.scenario === s && x.mode === 'api')!;
  const rate = (x: ReturnType<typeof api>, what: string) =>
    `${fmt(x.itemsPerSec, 0)} ${what}/s, p50 ${fmt(x.p50Ms)} ms, p99 ${fmt(x.p99Ms)} ms`;
  const cost = (key: string) => r.cost.find((c) => c.key === key)!;
  const money = (c: R['cost'][number]) => `${usd(c.total)} (floor ${usd(c.floor)})`;
  const fns = r.startup.results.filter((s) => s.name !== 'baseline');
  const base = r.startup.results.find((s) => s.name === 'baseline')!;
  const [c, region] = [r.throughput.concurrency, r.prices.region];
  const init = `${fmt(Math.max(...fns.map((s) => s.initMs)))} ms / ${fmt(base.initMs)} ms`;
  return [
    '## Benchmarks',
    '',
    `Latest \`npm run bench\`${r.plan.quick ? ' (--quick)' : ''}: ${machineLine(r.machine)}. What each figure measures, its floor, and the`,
    "reasons behind every ratio and every missed target: [docs/benchmarks.md](docs/benchmarks.md) (the bench's code: `test/bench/`).",
    '',
    targetsTable(r.targets),
    '',
    pairs([
      ['start-up: init, median (slowest function / SDK-only baseline)', init],
      ['largest bundle', kb(Math.max(...fns.map((s) => s.bytes)))],
      [`push_events, 100 events a request, concurrency ${c}`, rate(api('push_events'), 'events')],
      [`create_session, concurrency ${c}`, rate(api('create_session'), 'sessions')],
      [`cost per million events (100 a request, ${region})`, money(cost('events_100'))],
      [`cost per million sessions (${region})`, money(cost('sessions'))],
    ]),
  ].join('\n');
}
