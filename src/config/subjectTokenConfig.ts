// The subject token of a token exchange (RFC 8693): the file the platform writes it to and its
// type, checked alike for OAUTH_SUBJECT_TOKEN_FILE / OAUTH_SUBJECT_TOKEN_TYPE and a credential's
// subjectTokenFile / subjectTokenType. The file is read once here, so a wrong one stops the start.
import { resolve } from 'node:path'
import { JWT_TOKEN_TYPE, subjectTokenParser } from '../grants/tokenExchangeGrant.js'
import { readParsedFile } from './boundedFile.js'

/** The most read from a subject token file (a projected service-account token is about 1 KiB). */
const SUBJECT_TOKEN_FILE_MAX_BYTES = 64 * 1024

/** What the token exchange sends as subject_token and subject_token_type. */
export interface SubjectTokenConfig {
  /** Absolute path, read again for each exchange whenever it changed. */
  path: string
  /** Names the file in refresh errors: `OAUTH_SUBJECT_TOKEN_FILE`, `credentials.k8s.subjectTokenFile`. */
  field: string
  /** A URI; the jwt type makes the file's content checked as a JWT. */
  type: string
}

export type SubjectTokenKey = 'subjectTokenFile' | 'subjectTokenType'

export interface SubjectTokenInput {
  file: string | undefined
  type: string | undefined
  /** True for the token exchange grant, which needs the file; every other grant forbids both. */
  tokenExchange: boolean
}

export interface SubjectTokenContext {
  /** How the messages name a key: `OAUTH_SUBJECT_TOKEN_FILE`, or `subjectTokenFile` in a file. */
  names: Record<SubjectTokenKey | 'grant', string>
  report: (key: SubjectTokenKey, message: string) => void
  /** The label of the file in refresh errors. */
  field: string
  /** Relative paths are read from here (the working directory, or the configuration file's folder). */
  directory: string
}

/** The subject token's settings; null when the grant is another or a problem was reported. */
export function resolveSubjectToken (input: SubjectTokenInput, context: SubjectTokenContext): SubjectTokenConfig | null {
  const { names, report } = context
  if (!input.tokenExchange) {
    for (const key of ['subjectTokenFile', 'subjectTokenType'] as const) {
      const given = key === 'subjectTokenFile' ? input.file : input.type
      if (given !== undefined) report(key, `is used only with ${names.grant} token_exchange`)
    }
    return null
  }
  const type = input.type ?? JWT_TOKEN_TYPE
  // RFC 8693 §3: a token type is a URI (urn:ietf:params:oauth:token-type:…, or one of the provider's).
  const typeValid = URL.canParse(type)
  if (!typeValid) report('subjectTokenType', 'must be a token type URI (RFC 8693 §3), e.g. urn:ietf:params:oauth:token-type:jwt')
  if (input.file === undefined) {
    report('subjectTokenFile', `is required when ${names.grant} is token_exchange (the file the platform writes the token to)`)
    return null
  }
  const path = resolve(context.directory, input.file)
  const problem = subjectFileProblem(path, type, names.subjectTokenType)
  if (problem !== null) report('subjectTokenFile', problem)
  return problem === null && typeValid ? { path, field: context.field, type } : null
}

function subjectFileProblem (path: string, type: string, typeName: string): string | null {
  const parse = subjectTokenParser(type)
  const read = readParsedFile(path, SUBJECT_TOKEN_FILE_MAX_BYTES, (text) => {
    try {
      return parse(text)
    } catch (err) {
      throw new Error(`${(err as Error).message}, as ${typeName} ${JWT_TOKEN_TYPE} requires`)
    }
  })
  return 'problem' in read ? read.problem : null
}
