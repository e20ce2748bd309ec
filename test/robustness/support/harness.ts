/**
 * The shared set-up of the property suites: a fresh table, the functions' client replaced by one
 * that records acknowledged writes, the local server for the HTTP share, counters per route.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { expect } from 'vitest';
import { setDocumentClient } from '../../../functions/storage/client.js';
import { startLocalServer, type LocalServer } from '../../../lib/local/server.js';
import { useFreshTable, type TestTable } from '../../support/table.js';
import { envelopeStatus, type PostCase } from './generators.js';
import { invoke, viaHttp, type Answer, type RawRequest } from './invoke.js';
import { checkAnswer, expectNoRecordWritten } from './model.js';
import { readState, serviceClient, type AckedWrite } from './storage.js';

/** Cases per route in the handler share; the HTTP share adds a tenth (at least 100). */
export const RUNS = Math.max(1, Number(process.env.ROBUSTNESS_RUNS ?? 1000));
export const HTTP_RUNS = Math.max(100, Math.ceil(RUNS / 10));
/** Per property test: generous, and growing with ROBUSTNESS_RUNS. */
export const TEST_TIMEOUT_MS = Math.max(300_000, RUNS * 600);
export const SEED = process.env.ROBUSTNESS_SEED ? Number(process.env.ROBUSTNESS_SEED) : undefined;

export interface RouteCount {
  direct: number;
  http: number;
  statuses: Record<number, number>;
  /** Full scans of the table that found nothing new after a refused request. */
  scans: number;
}

export class Harness {
  readonly counts = new Map<string, RouteCount>();
  private constructor(
    readonly table: TestTable,
    readonly server: LocalServer,
    readonly writes: AckedWrite[],
  ) {}

  static async start(env: Record<string, string> = {}): Promise<Harness> {
    const table = await useFreshTable(env);
    const h = new Harness(table, await startLocalServer(), []);
    h.useEndpoint(table.endpoint);
    return h;
  }

  /** Writes of this request are not recorded (requests sent alongside the one under test). */
  ignoreWrites: (w: AckedWrite) => boolean = () => false;

  /**
   * Points the functions' client at `endpoint` (DynamoDB Local itself, or a fault proxy in front of
   * it), recording acknowledged writes as before.
   */
  useEndpoint(endpoint: string): void {
    setDocumentClient(
      serviceClient({ endpoint, onWrite: (w) => (this.ignoreWrites(w) ? undefined : this.writes.push(w)) }),
    );
  }

  count(route: string): RouteCount {
    let c = this.counts.get(route);
    if (!c) this.counts.set(route, (c = { direct: 0, http: 0, statuses: {}, scans: 0 }));
    return c;
  }

  /** Sends a request (in-process or over HTTP) and returns the answer with the writes it caused. */
  async send(
    route: string,
    r: RawRequest,
    http = false,
    adjust?: (event: APIGatewayProxyEventV2) => void,
  ): Promise<{ answer: Answer; writes: AckedWrite[] }> {
    const mark = this.writes.length;
    const answer = http ? await viaHttp(this.server.url, r) : await invoke(r, adjust);
    const c = this.count(route);
    if (http) c.http++;
    else c.direct++;
    c.statuses[answer.status] = (c.statuses[answer.status] ?? 0) + 1;
    return { answer, writes: this.writes.slice(mark) };
  }

  /** Records (sessions, events, members, releases, batches) in the table: the count a refusal must not change. */
  async recordCount(): Promise<number> {
    const s = await readState(this.table.endpoint, this.table.tableName);
    let n = s.sessions.size + s.batches.size + s.releases.size;
    for (const e of s.events.values()) n += e.size;
    for (const m of s.members.values()) n += m.length;
    return n;
  }

  state() {
    return readState(this.table.endpoint, this.table.tableName);
  }

  /** The table's record count before the refusals of the HTTP share; unknown after an accepted request. */
  private recordsBefore: number | undefined;

  /** The caller changed the table itself: count it again before the next refusal is checked. */
  forgetRecordCount(): void {
    this.recordsBefore = undefined;
  }

  /** One POST case: the request guard's answer where it decides, the route's oracle otherwise. */
  async postOne(
    route: string,
    path: string,
    c: PostCase,
    http: boolean,
    oracle: (body: any, a: Answer, ctx: string) => void,
  ) {
    const req: RawRequest = {
      method: 'POST',
      path,
      headers: c.contentType === undefined ? {} : { 'content-type': c.contentType },
      body: c.body,
    };
    const base64 = c.base64 && !http;
    const ctx = `${route} ${http ? 'http' : 'handler'}${base64 ? ' base64' : ''} ${c.kind} ct=${c.contentType} body=${c.body.subarray(0, 300).toString('utf8')}`;
    if (http) this.recordsBefore ??= await this.recordCount();
    const { answer, writes } = await this.send(route, req, http, base64 ? asBase64 : undefined);
    checkAnswer(answer, ctx);
    const expected = envelopeStatus(c);
    if (expected !== undefined) expect(answer.status, `${ctx} -> ${answer.text.slice(0, 200)}`).toBe(expected);
    if (answer.status >= 400) {
      expectNoRecordWritten(writes, ctx);
      if (http) {
        expect(await this.recordCount(), `${ctx}: the table changed after a refusal`).toBe(this.recordsBefore);
        this.count(route).scans++;
      }
    } else {
      this.recordsBefore = undefined;
    }
    const parsed = tryParse(c.body);
    if (parsed !== undefined && parsed !== null && typeof parsed === 'object') oracle(parsed, answer, ctx);
    expect(({} as Record<string, unknown>).polluted, ctx).toBeUndefined();
  }

  /** API Gateway's own decoding of a query string: parameters set directly on the event. */
  async getRawParams(
    route: string,
    path: string,
    params: Record<string, string>,
    oracle: (params: Record<string, string>, a: Answer, ctx: string) => void,
  ) {
    const ctx = `${route} raw ${JSON.stringify(params)}`;
    const { answer, writes } = await this.send(route, { method: 'GET', path }, false, (e) => {
      e.queryStringParameters = params;
    });
    checkAnswer(answer, ctx);
    expectNoRecordWritten(writes, ctx);
    oracle(params, answer, ctx);
  }

  /** One GET case with a raw query string; the oracle sees its parameters joined as API Gateway joins them. */
  async getOne(
    route: string,
    path: string,
    query: string,
    http: boolean,
    oracle: (params: Record<string, string>, a: Answer, ctx: string) => void,
  ) {
    const ctx = `${route} ${http ? 'http' : 'handler'} ?${query}`;
    const { answer, writes } = await this.send(route, { method: 'GET', path, query }, http);
    checkAnswer(answer, ctx);
    expectNoRecordWritten(writes, ctx);
    const params: Record<string, string> = {};
    for (const [k, v] of new URL(`http://x/?${query}`).searchParams)
      params[k] = Object.hasOwn(params, k) ? `${params[k]},${v}` : v;
    oracle(params, answer, ctx);
  }

  close() {
    return this.server.close();
  }
}

export function summary(counts: Map<string, RouteCount>): string {
  const lines = [...counts].map(([route, c]) => {
    const statuses = Object.entries(c.statuses)
      .sort()
      .map(([s, n]) => `${s}:${n}`)
      .join(' ');
    return `  ${route.padEnd(26)} ${String(c.direct + c.http).padStart(6)} cases (${c.direct} handler, ${c.http} HTTP, ${c.scans} table scans)  ${statuses}`;
  });
  return lines.join('\n');
}

/** Sends a text body base64-encoded, as API Gateway does for media types it treats as binary. */
export const asBase64 = (event: APIGatewayProxyEventV2) => {
  if (event.body !== undefined && !event.isBase64Encoded) {
    event.body = Buffer.from(event.body, 'utf8').toString('base64');
    event.isBase64Encoded = true;
  }
};

const tryParse = (body: Buffer): any => {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
};
