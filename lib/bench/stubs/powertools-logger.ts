/** Diagnostic stand-in for @aws-lambda-powertools/logger (start-up breakdown only, never deployed). */
export class Logger {
  info(..._args: unknown[]) {}
  warn(..._args: unknown[]) {}
  error(..._args: unknown[]) {}
  debug(..._args: unknown[]) {}
  setCorrelationId(_id?: string) {}
  addContext(_context: unknown) {}
  appendKeys(_keys: unknown) {}
}
