/**
 * `clickstream export`: a released batch to JSON Lines (gzip when the file ends in .gz, or stdout),
 * read by N workers over the batch's per-shard ranges (get_batch `ranges`), each session whole (a
 * session cut at `events_limit` is continued through get_session's events cursor).
 *
 * Resumable: each range is written to its own part file in `<out>.parts/`, and `state.json` there
 * records, after every page, how many bytes of the part file and which last session number are
 * committed. A rerun of the same command truncates each part file to its committed size and goes on
 * after the committed number, so the finished file is byte for byte the one an uninterrupted export
 * writes: the ranges in shard order, each in session_number order. The parts are joined into the
 * output (through a temporary file, renamed at the end) once every range is complete.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { FORMATS, lineOf, type LineFormat, type WireSession } from '../../functions/domain/training-lines.js';
import type { Api } from './api.js';

export interface ExportOptions {
  api: Api;
  batchId: string;
  /** A file (gzip when it ends in .gz) or `-` for stdout. */
  out: string;
  workers: number;
  format: LineFormat;
  /** Sessions per batch page. */
  pageSize: number;
  consistent: boolean;
  /** Drop the parts of an earlier, different or unfinished export instead of resuming it. */
  restart?: boolean;
  /** Progress lines (stderr). */
  progress?: (line: string, final: boolean) => void;
  /** How often progress is reported (ms). */
  progressEveryMs?: number;
}

export interface ExportResult {
  sessions: number;
  /** Sessions read by this run (a resumed run skips what an earlier one committed). */
  readNow: number;
  seconds: number;
  resumed: boolean;
  requests: number;
}

interface Range {
  shard: number;
  after_number: number;
  until_number: number;
  session_count: number;
}

interface RangeState {
  /** The last session number committed to the part file (the range's after_number at first). */
  after: number;
  bytes: number;
  sessions: number;
  done: boolean;
}

interface State {
  version: 1;
  batchId: string;
  format: LineFormat;
  consistent: boolean;
  ranges: Record<string, RangeState>;
}

const MAX_EVENTS_LIMIT = 10_000;
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

/** For tests of resuming: the process kills itself after writing this many pages, before committing the last. */
const CRASH_AFTER_PAGES = Number(process.env.CLICKSTREAM_EXPORT_CRASH_AFTER_PAGES ?? 0);

export async function exportBatch(o: ExportOptions): Promise<ExportResult> {
  if (!FORMATS.includes(o.format)) throw new Error(`--format: one of ${FORMATS.join(', ')}`);
  const started = Date.now();
  const batch = (await o.api.request('GET', '/internal/batch', { query: { batch_id: o.batchId } })).body as {
    status: string;
    session_count: number;
    ranges?: Range[];
  };
  if (batch.status !== 'released')
    throw new Error(`Batch ${o.batchId} is still collecting: release it first (clickstream release)`);
  // A server without ranges: the whole batch as one range.
  const ranges: Range[] = batch.ranges ?? [
    { shard: 0, after_number: 0, until_number: UNBOUNDED, session_count: batch.session_count },
  ];

  const toStdout = o.out === '-';
  const dir = toStdout ? await mkdtemp(join(tmpdir(), 'clickstream-export-')) : `${o.out}.parts`;
  const statePath = join(dir, 'state.json');
  const fresh = (): State => ({
    version: 1,
    batchId: o.batchId,
    format: o.format,
    consistent: o.consistent,
    ranges: Object.fromEntries(
      ranges.map((r) => [
        String(r.shard),
        { after: r.after_number, bytes: 0, sessions: 0, done: r.session_count === 0 },
      ]),
    ),
  });
  let state: State;
  let resumed = false;
  if (!toStdout && o.restart) await rm(dir, { recursive: true, force: true });
  if (!toStdout && existsSync(statePath)) {
    const saved = JSON.parse(await readFile(statePath, 'utf8')) as State;
    if (saved.batchId !== o.batchId || saved.format !== o.format || saved.consistent !== o.consistent) {
      throw new Error(
        `${dir} holds an unfinished export of batch ${saved.batchId} (format ${saved.format}); rerun that command to finish it, or pass --restart to drop it`,
      );
    }
    state = saved;
    resumed = true;
  } else {
    await mkdir(dir, { recursive: true });
    state = fresh();
    await writeFile(statePath, JSON.stringify(state));
  }

  // Commits are serialized: each writes the whole state to a temporary file and renames it.
  let commitChain = Promise.resolve();
  const commit = () =>
    (commitChain = commitChain.then(async () => {
      await writeFile(`${statePath}.tmp`, JSON.stringify(state));
      await rename(`${statePath}.tmp`, statePath);
    }));

  const committedBefore = Object.values(state.ranges).reduce((n, r) => n + r.sessions, 0);
  let readNow = 0;
  let pages = 0;
  const total = batch.session_count;
  const report = (final: boolean) => {
    const done = committedBefore + readNow;
    const seconds = (Date.now() - started) / 1000;
    const rate = readNow / Math.max(seconds, 0.001);
    const eta = rate > 0 && total > done ? `, ETA ${duration((total - done) / rate)}` : '';
    o.progress?.(
      `${final ? 'exported' : 'exporting'} ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} sessions, ${rate.toFixed(0)} sessions/s${final ? ` in ${duration(seconds)}` : eta}`,
      final,
    );
  };
  const timer = setInterval(() => report(false), o.progressEveryMs ?? 1000);

  try {
    const queue = ranges.filter((r) => !state.ranges[String(r.shard)]!.done);
    const worker = async () => {
      for (let range = queue.shift(); range; range = queue.shift()) await exportRange(range);
    };
    const exportRange = async (range: Range) => {
      const rs = state.ranges[String(range.shard)]!;
      const file = await open(
        join(dir, `range-${range.shard}.jsonl`),
        existsSync(join(dir, `range-${range.shard}.jsonl`)) ? 'r+' : 'w+',
      );
      try {
        await file.truncate(rs.bytes); // drops whatever an interrupted run wrote after its last commit
        // A released batch's membership is frozen and its per-shard counts exact: a range whose count
        // is reached is complete without asking for the empty page after it.
        while (rs.sessions < range.session_count || range.until_number === UNBOUNDED) {
          const page = (
            await o.api.request('GET', '/internal/batch/sessions', {
              query: {
                batch_id: o.batchId,
                after_number: rs.after,
                until_number: range.until_number,
                limit: o.pageSize,
                events_limit: MAX_EVENTS_LIMIT,
                include_irrelevant: true,
                consistent: o.consistent,
              },
            })
          ).body as { last_number: number | null; sessions: WireSession[] };
          if (page.last_number === null) break;
          const lines: string[] = [];
          for (const s of page.sessions) {
            if (s.session_number <= rs.after || s.session_number > range.until_number) {
              throw new Error(
                `The server answered session ${s.session_number} outside (${rs.after}, ${range.until_number}]`,
              );
            }
            lines.push(lineOf(o.format, await wholeSession(o.api, s)));
          }
          const text = Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8');
          await file.write(text, 0, text.length, rs.bytes);
          await file.sync();
          if (CRASH_AFTER_PAGES > 0 && ++pages >= CRASH_AFTER_PAGES) process.kill(process.pid, 'SIGKILL');
          rs.bytes += text.length;
          rs.after = page.last_number;
          rs.sessions += page.sessions.length;
          readNow += page.sessions.length;
          await commit();
        }
        rs.done = true;
        await commit();
      } finally {
        await file.close();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, o.workers) }, worker));
    await commitChain;

    // Every range complete: join the parts in shard order.
    // Exactly the committed bytes of each part: nothing an interrupted write left behind.
    const parts = ranges
      .map((r) => ({ path: join(dir, `range-${r.shard}.jsonl`), bytes: state.ranges[String(r.shard)]!.bytes }))
      .filter((p) => p.bytes > 0);
    async function* joined() {
      for (const part of parts) yield* createReadStream(part.path, { start: 0, end: part.bytes - 1 });
    }
    if (toStdout) {
      for await (const chunk of joined()) {
        if (!process.stdout.write(chunk as Buffer)) await once(process.stdout, 'drain');
      }
    } else {
      const tmp = `${o.out}.tmp`;
      if (o.out.endsWith('.gz')) await pipeline(joined, createGzip(), createWriteStream(tmp));
      else await pipeline(joined, createWriteStream(tmp));
      await rename(tmp, o.out);
    }
    await rm(dir, { recursive: true, force: true });
  } finally {
    clearInterval(timer);
  }
  report(true);
  const sessions = Object.values(state.ranges).reduce((n, r) => n + r.sessions, 0);
  return { sessions, readNow, seconds: (Date.now() - started) / 1000, resumed, requests: o.api.requests };
}

/**
 * The session with all of its events: a session cut at events_limit is continued through
 * get_session's cursor; if its events changed meanwhile (a late event sorted before the cursor), it
 * is read again from the start.
 */
export async function wholeSession(api: Api, s: WireSession): Promise<WireSession> {
  if (!s.events_truncated && s.events.length === s.events_count) return s;
  for (let attempt = 0; attempt < 4; attempt++) {
    const events = attempt === 0 ? [...s.events] : [];
    let cursor = attempt === 0 ? s.events_next_cursor : undefined;
    let count = s.events_count;
    let truncated = attempt === 0 ? s.events_truncated : true;
    while (truncated) {
      const page = (
        await api.request('GET', '/session', {
          query: { session_id: s.session_id, events_limit: MAX_EVENTS_LIMIT, events_after: cursor },
        })
      ).body as WireSession;
      events.push(...page.events);
      cursor = page.events_next_cursor;
      count = page.events_count;
      truncated = page.events_truncated;
    }
    if (events.length === count) {
      const { events_next_cursor: _cursor, ...rest } = s;
      return { ...rest, events, events_count: count, events_truncated: false };
    }
  }
  throw new Error(`Session ${s.session_id}: its events kept changing while it was read; rerun the export`);
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
