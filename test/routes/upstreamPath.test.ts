// The path a request is sent to at its route's upstream: the route's prefix replaced by the
// upstream's path, and never a path outside the upstream's (a hostile `*` glued to `/v2`).
import t from 'tap'
import type { GatewayRoute } from '../../plugins/routing.js'
import { upstreamPathOf } from '../../routes/proxy/index.js'

const route = (path: string, upstreamPath: string): GatewayRoute => ({ path, upstreamPath } as unknown as GatewayRoute)

t.test('the prefix is replaced by the upstream\'s path', async (t) => {
  t.equal(upstreamPathOf(route('/chat', '/v1'), '/chat/completions'), '/v1/completions')
  t.equal(upstreamPathOf(route('/chat', '/v1'), '/chat'), '/v1')
  t.equal(upstreamPathOf(route('/chat', '/v1'), '/chat/'), '/v1/')
  t.equal(upstreamPathOf(route('/chat', ''), '/chat'), '/', 'an upstream without a path: its root')
  t.equal(upstreamPathOf(route('/chat', ''), '/chat/x'), '/x')
  t.equal(upstreamPathOf(route('/', '/v2'), '/x/y'), '/v2/x/y')
  t.equal(upstreamPathOf(route('/', ''), '/'), '/')
})

t.test('a target that is no path stays a segment under the upstream\'s path', async (t) => {
  t.equal(upstreamPathOf(route('/', '/v2'), '*'), '/v2/*')
  t.equal(upstreamPathOf(route('/', ''), '*'), '/*')
})
