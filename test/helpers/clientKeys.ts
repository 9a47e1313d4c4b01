// Client key pairs for private_key_jwt tests: the PEM a gateway is given and the public JWK (with
// its kid) the authorization server registers.
import { generateKeyPairSync } from 'node:crypto'

export interface ClientKey {
  kid: string
  pem: string
  jwk: object
}

export function clientKey (kid: string, type: 'rsa' | 'ec' = 'rsa'): ClientKey {
  const pair = type === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return {
    kid,
    pem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, use: 'sig' }
  }
}
