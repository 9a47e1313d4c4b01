// The admin namespace however a path spells it, and only it.
import t from 'tap'
import { isAdminPath, normalisedPath } from '../../src/utils/gatewayPaths.js'

t.test('normalised as a lenient server would read the path', async (t) => {
  t.equal(normalisedPath('/A//b/./c/../D?q=/admin'), '/a/b/d', 'case, slashes, dot segments; the query is not the path')
  t.equal(normalisedPath('/x%2Fy%5cz'), '/x/y/z', 'encoded slashes and backslashes, decoded once')
  t.equal(normalisedPath('/x%252fy'), '/x%2fy', 'decoded once only')
  t.equal(normalisedPath('/admin;jsessionid=1/token'), '/admin/token', 'path parameters dropped')
  t.equal(normalisedPath('/%zz/admin'), '/%zz/admin', 'a malformed escape leaves the path as written')
  t.equal(normalisedPath('/../../x'), '/x', 'no climbing above the root')
})

t.test('any spelling of /admin and below, nothing else', async (t) => {
  for (const url of ['/admin', '/ADMIN/', '//admin//token', '/admin%2ftoken', '/x/..%2fadmin', '/%41dmin/token/refresh', '\\admin\\token', '/admin;/x']) {
    t.equal(isAdminPath(url), true, url)
  }
  for (const url of ['/', '/administrator', '/admins', '/v1/admin', '/admin-panel', '/%zzadmin']) t.equal(isAdminPath(url), false, url)
})
