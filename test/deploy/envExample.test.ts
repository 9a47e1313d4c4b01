// .env.example as users copy it, to run on the host or to hand to a container (`docker run
// --env-file`, compose's env_file): it names every variable with its default, and sets only what a
// user must fill in, so that nothing in it overrides what the image sets (HOST, TOKEN_STORE_PATH).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { configSchema } from '../../src/config/schema.js'
import { ROOT } from '../helpers/process.js'

const text = readFileSync(join(ROOT, '.env.example'), 'utf8')
const active = new Map([...text.matchAll(/^([A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]))
const commented = new Map([...text.matchAll(/^# ([A-Z_]+)=(.*)$/gm)].map((m) => [m[1], m[2]]))

t.test('every variable of the schema is there, set or commented out, and nothing else', async (t) => {
  const listed = [...active.keys(), ...commented.keys()].sort()
  t.same(listed, Object.keys(configSchema.properties).sort())
})

t.test('only what a user must fill in is set: a container keeps the image\'s HOST and TOKEN_STORE_PATH', async (t) => {
  t.same([...active.keys()].sort(), ['AUTH_TOKEN', 'REFRESH_TOKEN', 'UPSTREAM_URL'])
  for (const name of ['HOST', 'PORT', 'TOKEN_STORE', 'TOKEN_STORE_PATH']) t.ok(commented.has(name), `${name} is commented out`)
})

t.test('a commented-out value is the schema\'s default', async (t) => {
  for (const [name, value] of commented) {
    const property = (configSchema.properties as Record<string, { default?: unknown }>)[name]
    if (property.default === undefined) t.equal(value, '', `${name} has no default`)
    else t.equal(value, String(property.default), `${name}=${value}`)
  }
})

t.test('compose sets HOST and the shared store itself, whatever .env says', async (t) => {
  const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')
  const environment = /^ {2}environment:\n((?: {4}.+\n)+)/m.exec(compose)?.[1] ?? ''
  t.match(environment, /^ {4}HOST: 0\.0\.0\.0$/m)
  t.match(environment, /^ {4}TOKEN_STORE: redis$/m)
  t.match(environment, /^ {4}REDIS_URL: redis:\/\/redis:6379$/m)
})
