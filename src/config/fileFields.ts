// Reading the values of TOKENGATE_CONFIG's file once it is parsed: every problem names its place
// (`credentials.chat.tokenUrl`), strings go through `${VAR}`, and no message quotes a value, so a
// secret in a field that is mistyped never reaches a terminal or a log.
import type { ConfigProblem } from '../errors.js'
import { interpolate, type Variables } from './interpolation.js'

export const CONFIG_VARIABLE = 'TOKENGATE_CONFIG'

/** What a file leaves unsaid comes from the environment: TOKEN_EXPIRY_BUFFER, TOKEN_REFRESH_INTERVAL, UPSTREAM_TIMEOUT, ACCESS_TOKEN_MAX_SIZE. */
export interface GatewayFileDefaults {
  expiryBufferMs: number
  refreshIntervalMs: number
  timeoutMs: number
  accessTokenMaxBytes: number
}

/** What reading one file needs; problems are collected here, all of them, not just the first. */
export interface FileContext {
  /** The environment for `${VAR}`. */
  variables: Variables
  /** The file's folder: relative `*File` paths are read from there, wherever the gateway runs. */
  directory: string
  defaults: GatewayFileDefaults
  problems: ConfigProblem[]
}

export function addProblem (context: FileContext, place: string, message: string): void {
  context.problems.push({ variable: CONFIG_VARIABLE, place, message })
}

export type Mapping = Record<string, unknown>

/** A YAML mapping or JSON object (a list, a scalar or null is not one). */
export function isMapping (value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype
}

// A key that reads as a word joins its place with a dot; any other is quoted, so the place stays one line.
const PLAIN_KEY = /^[A-Za-z0-9_-]{1,64}$/

export function placeOf (parent: string, key: string): string {
  if (!PLAIN_KEY.test(key)) return `${parent}[${JSON.stringify(key.slice(0, 64))}]`
  return parent === '' ? key : `${parent}.${key}`
}

/** Reports each key the mapping should not have: a typo (`tokenURL`) must not pass unnoticed. */
export function checkKeys (mapping: Mapping, place: string, known: readonly string[], context: FileContext): void {
  for (const key of Object.keys(mapping)) {
    if (!known.includes(key)) addProblem(context, placeOf(place, key), `is not a known field (expected one of: ${known.join(', ')})`)
  }
}

/** A field counts as given unless it is missing or empty (`key:` with no value is null in YAML). */
export function isGiven (mapping: Mapping, key: string): boolean {
  return mapping[key] !== undefined && mapping[key] !== null
}

/**
 * A string field, `${VAR}` resolved and trimmed. Undefined when not given or blank; null when
 * given but unusable (the problem is reported).
 */
export function stringField (mapping: Mapping, key: string, place: string, context: FileContext): string | null | undefined {
  if (!isGiven(mapping, key)) return undefined
  const value = interpolatedString(mapping[key], placeOf(place, key), context)
  return value === '' ? undefined : value
}

/** A string value at `place`, `${VAR}` resolved and trimmed; null when it is none (the problem is reported). */
export function interpolatedString (raw: unknown, place: string, context: FileContext): string | null {
  if (typeof raw !== 'string') {
    addProblem(context, place, 'must be a string')
    return null
  }
  const result = interpolate(raw, context.variables)
  if ('problems' in result) {
    for (const problem of result.problems) addProblem(context, place, problem)
    return null
  }
  return result.value.trim()
}

/** A string field that must be given: undefined is reported as missing. */
export function requiredString (mapping: Mapping, key: string, place: string, context: FileContext): string | null {
  const value = stringField(mapping, key, place, context)
  if (value === undefined) addProblem(context, placeOf(place, key), 'is required')
  return value ?? null
}

// A number as a variable would give it (`${ROUTE_TIMEOUT}` is a string once resolved).
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

/** A number field, from a number or a decimal string; undefined when not given or blank, null when unusable. */
export function numberField (mapping: Mapping, key: string, place: string, context: FileContext, mustBe: string): number | null | undefined {
  if (!isGiven(mapping, key)) return undefined
  const raw = mapping[key]
  let value = Number.NaN
  if (typeof raw === 'number') {
    value = raw
  } else if (typeof raw === 'string') {
    const text = stringField(mapping, key, place, context)
    if (text === undefined || text === null) return text
    if (DECIMAL.test(text)) value = Number(text)
  }
  if (!Number.isFinite(value)) {
    addProblem(context, placeOf(place, key), mustBe)
    return null
  }
  return value
}

/** One of a few words; undefined when not given, null when unusable. */
export function choiceField<T extends string> (mapping: Mapping, key: string, place: string, choices: readonly T[], context: FileContext): T | null | undefined {
  const value = stringField(mapping, key, place, context)
  if (value === undefined || value === null) return value
  if ((choices as readonly string[]).includes(value)) return value as T
  addProblem(context, placeOf(place, key), `must be one of: ${choices.join(', ')}`)
  return null
}

/** Where an http(s) URL field falls short, in the file's words; null when it is fine. */
export function httpUrlProblem (url: URL | null, options: { query: boolean }): string | null {
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) return 'must be an https or http URL'
  if (url.username !== '' || url.password !== '') return 'must not carry credentials'
  if (!options.query && url.search !== '') return 'must not have a query string'
  return null
}

/** A required http(s) URL field; null when missing or unusable (reported). */
export function urlField (mapping: Mapping, key: string, place: string, context: FileContext, options: { query: boolean }): URL | null {
  const text = requiredString(mapping, key, place, context)
  if (text === null) return null
  const url = URL.canParse(text) ? new URL(text) : null
  const problem = httpUrlProblem(url, options)
  if (problem !== null) {
    addProblem(context, placeOf(place, key), problem)
    return null
  }
  return url
}
