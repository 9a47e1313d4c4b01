// The slice of a pino logger the core uses, so the core needs neither pino nor Fastify.
export interface LogFn {
  (msg: string): void
  (obj: object, msg: string): void
}

export interface Logger {
  debug: LogFn
  info: LogFn
  warn: LogFn
  error: LogFn
}

const noop: LogFn = () => {}

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }
