// Reads the repository's Dockerfile into stages of instructions, so tests check (and run) what it
// says instead of repeating its strings.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './process.js'

export interface Instruction {
  /** Upper case: FROM, RUN, ENV, … */
  keyword: string
  /** Everything after the keyword, line continuations joined. */
  args: string
}

export interface Stage {
  from: string
  name: string | null
  instructions: Instruction[]
}

export function readDockerfile (path = join(ROOT, 'Dockerfile')): Stage[] {
  const logical = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
  const stages: Stage[] = []
  for (const line of logical) {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!
    const upper = keyword.toUpperCase()
    if (upper === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!
      stages.push({ from, name: name ?? null, instructions: [] })
    } else {
      stages.at(-1)!.instructions.push({ keyword: upper, args: args.replace(/\s+/g, ' ') })
    }
  }
  return stages
}

export function all (stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args)
}

/** ENV lines as a map (`ENV A=1 B=2` form). */
export function envOf (stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const args of all(stage, 'ENV')) {
    for (const pair of args.split(' ')) {
      const at = pair.indexOf('=')
      env[pair.slice(0, at)] = pair.slice(at + 1)
    }
  }
  return env
}

/** The exec (JSON) form of CMD, ENTRYPOINT or HEALTHCHECK … CMD. */
export function execForm (args: string): string[] {
  const json = args.slice(args.indexOf('['))
  return JSON.parse(json) as string[]
}
