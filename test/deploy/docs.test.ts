// The documentation holds together: every relative link of README.md, SECURITY.md and docs/
// leads to a file of this repository and, where it names one, to a heading of that file; no
// file points outside the repository; the README stays short enough to read in a few screens and
// still names every variable and route.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import t from 'tap'
import { configSchema } from '../../src/config/schema.js'
import { ROOT } from '../helpers/process.js'

const pages = ['README.md', 'SECURITY.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => join('docs', name))]

/** GitHub's anchors: lower case, punctuation dropped, spaces as dashes. */
function anchorsOf (text: string): Set<string> {
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1].toLowerCase().replace(/[^a-z0-9 -]/g, '').replaceAll(' ', '-')))
}

t.test('every relative link leads to a file of the repository and to a heading of it', async (t) => {
  let links = 0
  for (const page of pages) {
    const text = readFileSync(join(ROOT, page), 'utf8')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue
      links++
      const [path, anchor] = target.split('#')
      const file = path === '' ? join(ROOT, page) : join(ROOT, dirname(page), path)
      t.ok(existsSync(file) && !relative(ROOT, file).startsWith('..'), `${page}: ${target} is a file of the repository`)
      if (anchor !== undefined && existsSync(file)) t.ok(anchorsOf(readFileSync(file, 'utf8')).has(anchor), `${page}: #${anchor} is a heading of ${relative(ROOT, file)}`)
    }
  }
  t.ok(links > 30, `${links} links checked`)
})

t.test('no page points outside the repository', async (t) => {
  for (const page of pages) t.notMatch(readFileSync(join(ROOT, page), 'utf8'), /\.\.\/shared|PRODUCT\.md/, page)
})

t.test('the README reads in a few screens, and names every variable and route', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  t.ok(Buffer.byteLength(readme) <= 15 * 1024, `${Buffer.byteLength(readme)} bytes`)
  for (const variable of Object.keys(configSchema.properties)) t.match(readme, `\`${variable}\``, variable)
  for (const route of ['GET /health/token', 'GET /health/live', 'GET /metrics', 'POST /admin/token/refresh', 'PUT /admin/token']) t.match(readme, `\`${route}\``, route)
})
