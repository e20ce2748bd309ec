/** Diagnostic stand-in for node:stream/web, which @middy/core imports only for response streaming. */
export class ReadableStream {}
