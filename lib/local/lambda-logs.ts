/**
 * Lambda's JSON log format, outside Lambda: what `console` writes inside an invocation becomes the
 * line CloudWatch would get, `{"timestamp", "level", "requestId", "message"}`, and lines below
 * AWS_LAMBDA_LOG_LEVEL (Lambda's variable for the application log level; default INFO) are
 * dropped. One argument is kept as it is (an object stays a JSON object in `message`); several are
 * formatted into one string, as the runtime does. Used by the local server, so that a developer sees
 * what the functions write in AWS, and by the tests.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
type Level = (typeof LEVELS)[number];
const METHODS = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', log: 'INFO', warn: 'WARN', error: 'ERROR' } as const;

const invocation = new AsyncLocalStorage<{ requestId: string }>();
let installed = false;
let everywhere = false;

/** Runs one invocation: the console lines it writes carry its request id. */
export const inInvocation = <T>(requestId: string, fn: () => T): T => invocation.run({ requestId }, fn);

/** The line Lambda writes for `console.<level>(...params)`. */
export function lambdaLogLine(level: Level, params: unknown[], requestId: string | undefined): string {
  const message = params.length === 1 ? params[0] : format(...params);
  return JSON.stringify({ timestamp: new Date().toISOString(), level, requestId, message }, (_key, value: unknown) =>
    value instanceof Error
      ? { errorType: value.name, errorMessage: value.message, stackTrace: value.stack?.split('\n') }
      : value,
  );
}

const enabled = (level: Level) => {
  const min = LEVELS.indexOf((process.env.AWS_LAMBDA_LOG_LEVEL ?? 'INFO').toUpperCase() as Level);
  return LEVELS.indexOf(level) >= (min < 0 ? LEVELS.indexOf('INFO') : min);
};

/**
 * Makes `console` write as Lambda does inside invocations (inInvocation). With `everywhere`
 * (test processes, where handlers are also called directly), `console.trace/debug/info/warn/error`
 * do so in the whole process; `console.log` stays the process's own there, for the tests' figures.
 */
export function useLambdaConsole(options: { everywhere?: boolean } = {}): void {
  everywhere ||= options.everywhere ?? false;
  if (installed) return;
  installed = true;
  for (const [method, level] of Object.entries(METHODS) as [keyof typeof METHODS, Level][]) {
    const original = console[method].bind(console);
    console[method] = (...params: unknown[]) => {
      const current = invocation.getStore();
      if (!current && !(everywhere && method !== 'log')) return original(...params);
      if (enabled(level)) process.stdout.write(`${lambdaLogLine(level, params, current?.requestId)}\n`);
    };
  }
}
