// How the gateway's client proves itself to the token endpoint (RFC 6749 §2.3, RFC 7521/7523):
// a shared secret by HTTP Basic or in the form, no secret at all (a public client), a JWT it signs
// with its own private key, a JWT the platform writes for it (workload identity), or its TLS
// client certificate (RFC 8705 §2.1: the connection carries the proof, the form only client_id).
import { X509Certificate, createHash, createPrivateKey, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'none', 'private_key_jwt', 'client_assertion_file', 'tls_client_auth'];
export const SIGNING_ALGS = ['RS256', 'PS256', 'ES256'];
/** RFC 7523 §2.2: the client_assertion_type of a JWT used as client authentication. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
// Short, so a captured assertion is soon worthless; long enough for a clock a little behind.
export const ASSERTION_LIFETIME_SECONDS = 120;
/**
 * Parses a PEM private key (RSA, or EC on P-256) and settles its algorithm: the one asked for
 * when it suits the key, else RS256 for RSA and ES256 for EC. Messages never quote the text.
 */
export function parseSigningKey(pem, wanted) {
    let key;
    try {
        key = createPrivateKey(pem);
    }
    catch {
        throw new Error('is not a PEM private key (PKCS#8, PKCS#1 or SEC 1)');
    }
    const thumbprints = certificateThumbprints(pem, key);
    if (key.asymmetricKeyType === 'rsa') {
        if (wanted === 'ES256')
            throw new Error('holds an RSA key, which cannot sign ES256 (use RS256 or PS256)');
        return { key, alg: wanted ?? 'RS256', thumbprints };
    }
    if (key.asymmetricKeyType === 'ec') {
        if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
            throw new Error('holds an EC key that is not on P-256 (ES256 needs P-256)');
        if (wanted !== null && wanted !== 'ES256')
            throw new Error(`holds an EC key, which cannot sign ${wanted} (use ES256)`);
        return { key, alg: 'ES256', thumbprints };
    }
    throw new Error('must hold an RSA or EC private key');
}
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/;
// The first certificate of the file is the key's own (as `cat cert.pem key.pem` or a PKCS#12
// export writes it); one that belongs to another key would name the wrong credential.
function certificateThumbprints(pem, key) {
    const block = CERTIFICATE_BLOCK.exec(pem);
    if (block === null)
        return null;
    let certificate;
    try {
        certificate = new X509Certificate(block[0]);
    }
    catch {
        throw new Error('holds a certificate that does not parse');
    }
    if (!certificate.checkPrivateKey(key))
        throw new Error('holds a certificate that is not the private key\'s own');
    return {
        x5t: createHash('sha1').update(certificate.raw).digest('base64url'),
        'x5t#S256': createHash('sha256').update(certificate.raw).digest('base64url')
    };
}
// Three base64url parts, the first a JSON object: enough to tell a JWT from a wrong file, while
// its signature and claims are the identity provider's to judge.
export function checkJwt(text) {
    const parts = text.split('.');
    let header = null;
    if (parts.length === 3 && parts.every((part) => /^[A-Za-z0-9_-]+$/.test(part))) {
        try {
            header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
        }
        catch { }
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header))
        throw new Error('does not hold a JWT (three base64url parts)');
    return text;
}
/** RFC 6749 §2.3.1: id and secret each form-encoded before they are joined for HTTP Basic, so ':' or '+' survive. */
export function basicAuthorization(client) {
    return `Basic ${Buffer.from(`${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`).toString('base64')}`;
}
function formEncode(value) {
    return new URLSearchParams([['', value]]).toString().slice(1);
}
/** The authenticator of a method; the configuration guarantees what each method needs. */
export function clientAuthenticator(options) {
    const { clientId } = options;
    switch (options.method) {
        case 'client_secret_basic':
            return async (_form, headers) => {
                headers.authorization = basicAuthorization({ clientId, clientSecret: options.secret() });
            };
        case 'client_secret_post':
            return async (form) => {
                form.set('client_id', clientId);
                form.set('client_secret', options.secret());
            };
        case 'none':
        case 'tls_client_auth':
            return async (form) => { form.set('client_id', clientId); };
        case 'private_key_jwt':
            return async (form) => {
                const { key, alg, thumbprints } = options.privateKey.read();
                const nowSeconds = Math.floor(options.now() / 1000);
                const header = { alg, typ: 'JWT', ...(options.keyId ? { kid: options.keyId } : {}), ...thumbprints };
                // A fresh jti each time: servers refuse a replayed assertion (RFC 7523 §3, item 7).
                const assertion = await new SignJWT({})
                    .setProtectedHeader(header)
                    .setIssuer(clientId)
                    .setSubject(clientId)
                    .setAudience(options.tokenUrl)
                    .setJti(randomUUID())
                    .setIssuedAt(nowSeconds)
                    .setExpirationTime(nowSeconds + ASSERTION_LIFETIME_SECONDS)
                    .sign(key);
                setAssertion(form, clientId, assertion);
            };
        case 'client_assertion_file':
            return async (form) => { setAssertion(form, clientId, options.assertion.read()); };
    }
}
// client_id beside the assertion is optional (RFC 7521 §4.2) but lets servers find the client
// before parsing the JWT; several (oidc-provider, Entra) expect it.
function setAssertion(form, clientId, assertion) {
    form.set('client_id', clientId);
    form.set('client_assertion_type', JWT_BEARER_ASSERTION_TYPE);
    form.set('client_assertion', assertion);
}
