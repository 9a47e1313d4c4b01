import t from 'tap'
import { getUserFromToken, isTokenExpired } from '../../src/utils/tokenUtils.js'
import { signJwt } from '../../src/demo/jwt.js'

t.test('decodes a JWT', async (t) => {
  const token = signJwt({ sub: 'u1', exp: 2_000_000_000, iat: 1_000_000_000 }, 's')
  t.equal(getUserFromToken(token)?.userId, 'u1')
  t.equal(isTokenExpired(token, 0, () => 1_000), false)
})
