import t from 'tap'
import { RouteTable } from '../../src/routing/routeTable.js'

const table = (...paths: string[]): RouteTable<{ path: string }> => new RouteTable(paths.map((path) => ({ path })))
const matched = (routes: RouteTable<{ path: string }>, path: string): string | null => routes.match(path)?.path ?? null

t.test('the longest prefix wins, on / boundaries only', async (t) => {
  const routes = table('/', '/chat', '/chat/v2', '/graph')
  t.equal(matched(routes, '/chat'), '/chat')
  t.equal(matched(routes, '/chat/'), '/chat', 'a trailing / belongs to the prefix before it')
  t.equal(matched(routes, '/chat/completions'), '/chat')
  t.equal(matched(routes, '/chat/v2/completions'), '/chat/v2', 'the longer of two matching prefixes')
  t.equal(matched(routes, '/chat/v2'), '/chat/v2')
  t.equal(matched(routes, '/chat/v20'), '/chat', '/chat/v2 is no prefix of /chat/v20')
  t.equal(matched(routes, '/chatty'), '/', '/chat is no prefix of /chatty')
  t.equal(matched(routes, '/graph/me'), '/graph')
  t.equal(matched(routes, '/'), '/')
  t.equal(matched(routes, '/other/x'), '/')
})

t.test('without a root route, a path no prefix matches has no route', async (t) => {
  const routes = table('/chat', '/graph')
  t.equal(matched(routes, '/'), null)
  t.equal(matched(routes, '/chatty'), null)
  t.equal(matched(routes, '/graphs/1'), null)
  t.equal(matched(routes, '//chat'), null, 'an empty first segment is no /chat')
  t.equal(matched(routes, '/chat//x'), '/chat')
})

t.test('rest: what follows the prefix, kept exactly', async (t) => {
  t.equal(RouteTable.rest({ path: '/chat' }, '/chat/completions'), '/completions')
  t.equal(RouteTable.rest({ path: '/chat' }, '/chat'), '')
  t.equal(RouteTable.rest({ path: '/chat' }, '/chat/'), '/')
  t.equal(RouteTable.rest({ path: '/' }, '/x/y'), '/x/y', 'the root route keeps the whole path')
})

t.test('10,000 routes: the lookup walks the path\'s prefixes through a map', async (t) => {
  const many = table(...Array.from({ length: 10_000 }, (_, i) => `/r${i}`))
  t.equal(matched(many, '/r9999/a/b'), '/r9999')
  t.equal(matched(many, '/r10000'), null)
  t.equal(many.routes.length, 10_000)
})
