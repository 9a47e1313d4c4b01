// A Logger that keeps every line, so tests can assert what was logged and what never was.
import type { Logger } from '../../src/utils/logger.js'

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error'
  msg: string
  fields: object | undefined
}

export interface CapturingLogger extends Logger {
  lines: LogLine[]
  /** Everything logged, serialised, for "this secret never appears" checks. */
  text: () => string
  messages: (level?: LogLine['level']) => string[]
}

export function captureLogger (): CapturingLogger {
  const lines: LogLine[] = []
  const at = (level: LogLine['level']) => (objOrMsg: object | string, msg?: string): void => {
    if (typeof objOrMsg === 'string') lines.push({ level, msg: objOrMsg, fields: undefined })
    else lines.push({ level, msg: msg ?? '', fields: objOrMsg })
  }
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    text: () => lines.map((line) => JSON.stringify(line, (_key, value: unknown) =>
      value instanceof Error ? { name: value.name, message: value.message, stack: value.stack, cause: value.cause } : value)).join('\n'),
    messages: (level) => lines.filter((line) => level === undefined || line.level === level).map((line) => line.msg)
  }
}
