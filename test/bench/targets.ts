/** The targets (issues 1, 9, 10, 11, 15), evaluated on a run's figures. */
import { type CapacityRow, unitCost } from './capacity.js';
import type { CostRow } from './cost.js';
import type { GuardResult } from './guard.js';
import type { ConflictFigures } from './create-conflicts.js';
import type { StartupResult } from './startup.js';
import type { ThroughputResult } from './throughput.js';

export interface Target {
  key: string;
  target: string;
  measured: string;
  /** The figure compared with the limit. */
  value: number;
  limit: number;
  met: boolean;
}

export interface TargetInputs {
  startup: { results: StartupResult[] };
  capacity: CapacityRow[];
  throughput: ThroughputResult;
  cost: CostRow[];
  guard: GuardResult;
  conflicts?: ConflictFigures;
}

const atMost = (key: string, target: string, measured: string, value: number, limit: number): Target => ({
  key,
  target,
  measured,
  value,
  limit,
  met: value <= limit,
});
const atLeast = (key: string, target: string, measured: string, value: number, limit: number): Target => ({
  key,
  target,
  measured,
  value,
  limit,
  met: value >= limit,
});
const x = (n: number) => `${n.toFixed(2)}x`;

export function evaluateTargets(r: TargetInputs): Target[] {
  const fns = r.startup.results.filter((s) => s.name !== 'baseline');
  const base = r.startup.results.find((s) => s.name === 'baseline')!;
  const worstInit = fns.reduce((a, b) => ((b.initRatio ?? 0) > (a.initRatio ?? 0) ? b : a));
  const biggest = fns.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const row = (key: string) => r.capacity.find((c) => c.key === key)!;
  const perEvent = (c: CapacityRow) => c.writes / c.accepted!;
  const worstWrites = r.capacity
    .filter((c) => (c.accepted ?? 0) > 0)
    .reduce((a, b) => (perEvent(b) > perEvent(a) ? b : a));
  const [first, dup, create, batchRead] = [
    row('push_events_100'),
    row('push_events_duplicate'),
    row('create_session'),
    row('batch_read'),
  ];
  const [firstCost, dupCost] = [unitCost(first.reads, first.writes), unitCost(dup.reads, dup.writes)];
  const cost = r.cost.find((c) => c.key === 'events_100')!;
  const sessionCost = r.cost.find((c) => c.key === 'sessions')!;
  const cf = r.conflicts;
  const readsPerSession = batchRead.reads / batchRead.sessions!;
  const t = r.throughput;
  const exportRate = t.rows.find((row) => row.scenario === 'batch_export')?.itemsPerSec ?? Number.NaN;
  return [
    atMost(
      'init_ratio',
      'init time of every function <= 1.2x the SDK-only baseline',
      `worst: ${worstInit.name} ${x(worstInit.initRatio!)} (${worstInit.initMs.toFixed(1)} ms vs ${base.initMs.toFixed(1)} ms)`,
      worstInit.initRatio!,
      1.2,
    ),
    atMost(
      'bundle_size',
      'no function bundle over 600 KB',
      `largest: ${biggest.name} ${(biggest.bytes / 1024).toFixed(1)} KB`,
      biggest.bytes,
      600 * 1024,
    ),
    atLeast(
      'push_throughput',
      'push_events >= 0.7x the direct-SDK floor in events/s',
      x(t.pushRatio),
      t.pushRatio,
      0.7,
    ),
    atMost(
      'writes_per_event',
      '<= 1.1 write units per accepted event under 1 KB',
      `worst: ${perEvent(worstWrites).toFixed(3)} (push of ${worstWrites.accepted})`,
      perEvent(worstWrites),
      1.1,
    ),
    atMost(
      'duplicate_push',
      'a duplicate push costs no more than a first push',
      `${dup.reads} RRU + ${dup.writes} WRU vs ${first.reads} RRU + ${first.writes} WRU (${x(dupCost / firstCost)})`,
      dupCost / firstCost,
      1,
    ),
    atMost(
      'cost_per_million_events',
      'cost per million events <= 1.25x the DynamoDB write floor plus API Gateway (at 100 events a request)',
      `$${cost.total.toFixed(4)} vs $${cost.floor.toFixed(4)} (${x(cost.ratio)})`,
      cost.ratio,
      1.25,
    ),
    {
      // Judged on a session under 1 KB only (its floor: one write unit).
      ...atMost(
        'create_write_units',
        '<= 4.1 write units per create_session of a session under 1 KB',
        `${create.writes.toFixed(3)} WRU (floor ${create.floorWrites} WRU)`,
        create.writes,
        4.1,
      ),
      ...(create.floorWrites > 1 ? { met: false } : {}),
    },
    atMost(
      'cost_per_million_sessions',
      'cost per million sessions <= 2.4x the DynamoDB write floor plus API Gateway',
      `$${sessionCost.total.toFixed(4)} vs $${sessionCost.floor.toFixed(4)} (${x(sessionCost.ratio)})`,
      sessionCost.ratio,
      2.4,
    ),
    ...(cf
      ? [
          atLeast(
            'create_conflict_throughput',
            'creates/s on one shard under the transaction conflict simulation >= 10x the previous design in the same run',
            `${cf.design.perSecond.toFixed(1)} vs ${cf.previous.perSecond.toFixed(1)} creates/s (${x(cf.ratio)}; ${cf.creators} creators, ${cf.holdMs} ms hold; refused ${cf.design.conflicts} vs ${cf.previous.conflicts}, gave up ${cf.design.failed} vs ${cf.previous.failed})`,
            cf.ratio,
            10,
          ),
        ]
      : []),
    guardTarget(r.guard),
    atMost(
      'batch_read_units',
      '<= 1.1 read units per session of a released batch read through the API (sessions under 4 KB, strongly consistent)',
      `${readsPerSession.toFixed(3)} (${batchRead.reads} RRU for ${batchRead.sessions} sessions)`,
      readsPerSession,
      1.1,
    ),
    atLeast(
      'batch_read_ratio',
      'one API reader of a released batch >= 0.8x the direct-SDK floor in sessions/s',
      x(t.readRatio),
      t.readRatio,
      0.8,
    ),
    atLeast(
      'export_rate',
      'the local server-side export of a released batch (POST to succeeded) >= 0.8x the direct-SDK read floor in sessions/s',
      `${exportRate} sessions/s, ${x(t.exportRatio)}`,
      t.exportRatio,
      0.8,
    ),
  ];
}

export function guardTarget(guard: GuardResult): Target {
  const [w, h] = [guard.worst, guard.highestRatio];
  const perMib = (n: number) => n.toFixed(1);
  return atMost(
    'guard_worst_ratio',
    `request checks (JSON guard): the worst time per MiB over ${guard.rows.length} adversarial bodies <= 5x JSON.parse of the same body`,
    `worst: ${w.shape} ${perMib(w.guardMsPerMib)} ms/MiB vs ${perMib(w.parseMsPerMib)} ms/MiB (${x(w.ratio)}); highest ratio: ${h.shape} ${x(h.ratio)} (${perMib(h.guardMsPerMib)} vs ${perMib(h.parseMsPerMib)} ms/MiB)`,
    w.ratio,
    5,
  );
}
