/**
 * `clickstream`: the command-line client of the API (see `clickstream --help`). Started through
 * bin/clickstream.mjs (the package's `bin`), which loads this file with tsx. Not part of any Lambda
 * bundle: the functions' entries never import lib/cli.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FORMATS, type LineFormat } from '../functions/domain/training-lines.js';
import { Api } from '../lib/cli/api.js';
import { exportBatch } from '../lib/cli/export.js';
import { serverSideExport } from '../lib/cli/server-export.js';
import { smoke, SmokeFailure } from '../lib/cli/smoke.js';

const COMMON = `Common options:
  --url URL        the API: the stack's ApiUrl output, or a local server
                   (e.g. http://localhost:3000/api/v1/clickstream); default $CLICKSTREAM_URL
  --region REGION  signing region when the URL does not name one (custom domain); default $AWS_REGION
  --token JWT      bearer token for the client routes of a clientAuth=jwt stack; default $CLICKSTREAM_TOKEN
  -h, --help       this help

Requests to AWS are signed with SigV4 (execute-api) with credentials from the AWS SDK's default chain
(environment, ~/.aws profile incl. SSO, container or instance role; AWS_PROFILE picks a profile).
Requests to localhost / 127.0.0.1 go unsigned.`;

const HELP: Record<string, string> = {
  main: `Usage: clickstream <command> [options]

Commands:
  release --release-id ID   release the collecting batch (idempotent per release id)
  batch [ID]                describe a batch (without ID: the collecting one); a released batch
                            lists its per-shard ranges
  export --batch ID --out FILE|-
                            write a released batch as JSON Lines (gzip when FILE ends in .gz)
  export --batch ID --server-side [--download DIR]
                            export it inside the service (S3 in AWS) and optionally fetch it
  smoke                     check a deployment end to end with one test session

Run \`clickstream <command> --help\` for a command's options.

${COMMON}`,
  release: `Usage: clickstream release --release-id ID [--url URL]

Releases the collecting batch under the idempotency key ID and prints the answer
({release_id, batch_id, released_at, session_count}); the same ID always gets the same answer.

${COMMON}`,
  batch: `Usage: clickstream batch [ID] [--url URL]

Prints a batch (without ID: the one collecting now). A released batch has "ranges": one per shard,
{shard, after_number, until_number, session_count}, which independent readers can split.

${COMMON}`,
  export: `Usage: clickstream export --batch ID --out FILE|- [options]

Writes every session of a released batch as JSON Lines, one line per session, each session whole
(all of its events, continued past events_limit through get_session's cursor).

  --batch ID              the released batch (see \`clickstream release\` / \`clickstream batch\`)
  --out FILE|-            the output; gzip when FILE ends in .gz; - writes to stdout
  --format sessions|pairs sessions (default): get_session's shape with all events;
                          pairs: query, results (object_id, rank, position), clicked, negatives
                          (exact definitions: README, "Reading a batch for training")
  --workers N             parallel readers over the batch's ranges (default 4)
  --page-size N           sessions per request (default 200, at most 1000)
  --eventual              eventually consistent reads: half the read units (README)
  --restart               drop an unfinished export in FILE.parts instead of resuming it
  --quiet                 no progress on stderr

An interrupted export (Ctrl+C, a crash, a lost connection) resumes where it stopped when the same
command is run again: its parts are kept in FILE.parts/ and the finished file is the same as an
uninterrupted export's. Progress (sessions, sessions/s, ETA) goes to stderr.

  --server-side           instead, export inside the service (POST /internal/batch/export: Step
                          Functions and S3 in AWS, .exports/ under npm start): starts it or joins
                          it, shows its progress and prints its location (no --out)
  --export-id ID          its idempotency key (default <batch>-<format>: rerunning joins it)
  --download DIR          then fetch every file and the manifest into DIR, checking each file's
                          size and SHA-256 against the manifest (s3:// with your AWS credentials)

${COMMON}`,
  smoke: `Usage: clickstream smoke [--url URL]

After a deploy: creates a session (id clickstream-smoke-...), retries it, pushes two events, pushes
them again, reads the session back, and marks it irrelevant (batch pages leave it out by default).
Releases nothing. Exits 1 with a message naming the step on any mismatch, 0 when all is well.

${COMMON}`,
};

const commonOptions = {
  url: { type: 'string' },
  region: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

class UsageError extends Error {}

function parse<O extends ParseArgsConfig['options']>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...commonOptions, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function apiOf(values: { url?: string; region?: string; token?: string }): Api {
  const url = values.url ?? process.env.CLICKSTREAM_URL;
  if (!url) throw new UsageError('--url is required (or set CLICKSTREAM_URL)');
  const token = values.token ?? process.env.CLICKSTREAM_TOKEN;
  return new Api({ url, ...(values.region ? { region: values.region } : {}), ...(token ? { token } : {}) });
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

function positiveInt(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max)
    throw new UsageError(`--${name}: an integer from 1 to ${max}`);
  return Number(raw);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${HELP.main}\n`);
    return command === undefined ? 2 : 0;
  }
  if (!(command in HELP) || command === 'main') throw new UsageError(`unknown command: ${command}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${HELP[command]}\n`);
    return 0;
  }
  switch (command) {
    case 'release': {
      const { values, positionals } = parse(rest, { 'release-id': { type: 'string' } });
      if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
      if (!values['release-id']) throw new UsageError('--release-id is required');
      print(
        (await apiOf(values).request('POST', '/internal/batch/release', { body: { release_id: values['release-id'] } }))
          .body,
      );
      return 0;
    }
    case 'batch': {
      const { values, positionals } = parse(rest, {});
      if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`);
      print((await apiOf(values).request('GET', '/internal/batch', { query: { batch_id: positionals[0] } })).body);
      return 0;
    }
    case 'export': {
      const { values, positionals } = parse(rest, {
        batch: { type: 'string' },
        out: { type: 'string' },
        format: { type: 'string' },
        workers: { type: 'string' },
        'page-size': { type: 'string' },
        eventual: { type: 'boolean' },
        restart: { type: 'boolean' },
        quiet: { type: 'boolean' },
        'server-side': { type: 'boolean' },
        'export-id': { type: 'string' },
        download: { type: 'string' },
      });
      if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
      if (!values.batch) throw new UsageError('--batch is required');
      if (values['server-side']) {
        const local = (['out', 'workers', 'page-size', 'eventual', 'restart'] as const).filter(
          (o) => values[o] !== undefined,
        );
        if (local.length > 0)
          throw new UsageError(
            `--${local[0]} goes with an export by this command, not with --server-side (the service writes the files)`,
          );
        const format = values.format ?? 'sessions';
        if (!(FORMATS as readonly string[]).includes(format))
          throw new UsageError(`--format: one of ${FORMATS.join(', ')}`);
        const tty = process.stderr.isTTY === true;
        const { state } = await serverSideExport({
          api: apiOf(values),
          batchId: values.batch,
          exportId: values['export-id'] ?? `${values.batch}-${format}`,
          format,
          ...(values.download ? { download: values.download } : {}),
          ...(values.region ? { region: values.region } : {}),
          ...(values.quiet
            ? {}
            : {
                progress: (line: string, final: boolean) =>
                  process.stderr.write(tty ? `\r\x1b[K${line}${final ? '\n' : ''}` : `${line}\n`),
              }),
        });
        process.stdout.write(`${state.location}\n`);
        return 0;
      }
      if (values.download || values['export-id'])
        throw new UsageError('--download and --export-id go with --server-side');
      if (!values.out) throw new UsageError('--out is required (a file, or - for stdout)');
      const format = (values.format ?? 'sessions') as LineFormat;
      if (!FORMATS.includes(format)) throw new UsageError(`--format: one of ${FORMATS.join(', ')}`);
      const tty = process.stderr.isTTY === true;
      const result = await exportBatch({
        api: apiOf(values),
        batchId: values.batch,
        out: values.out,
        format,
        workers: positiveInt('workers', values.workers, 4, 256),
        pageSize: positiveInt('page-size', values['page-size'], 200, 1000),
        consistent: values.eventual !== true,
        restart: values.restart === true,
        progressEveryMs: tty ? 500 : 5000,
        progress: values.quiet
          ? undefined
          : (line, final) => process.stderr.write(tty ? `\r\x1b[K${line}${final ? '\n' : ''}` : `${line}\n`),
      });
      if (!values.quiet && result.resumed)
        process.stderr.write(`(resumed: ${result.sessions - result.readNow} sessions were already exported)\n`);
      return 0;
    }
    case 'smoke': {
      const { values, positionals } = parse(rest, {});
      if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
      const api = apiOf(values);
      process.stderr.write(`smoke: ${api.base.href}${api.signed ? ' (SigV4)' : ''}\n`);
      const r = await smoke(api, (line) => process.stderr.write(`${line}\n`));
      process.stdout.write(
        `smoke: OK (session ${r.sessionId}, ${r.steps.length} steps, ${r.requests} requests, ${r.ms} ms)\n`,
      );
      return 0;
    }
  }
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`clickstream: ${err.message}\nRun \`clickstream --help\` for usage.\n`);
      process.exit(2);
    }
    const message =
      err instanceof SmokeFailure ? `smoke FAILED: ${err.message}` : `clickstream: ${(err as Error)?.message ?? err}`;
    process.stderr.write(`${message}\n`);
    process.exit(1);
  },
);
