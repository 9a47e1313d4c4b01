import { systemClock } from '../utils/clock.js';
import { Agent } from 'undici';
import { ClientCertificateAgent, ClientCertificateSource } from '../utils/clientCertificate.js';
import { SecretFile } from '../utils/secretFile.js';
import { checkJwt, clientAuthenticator, parseSigningKey } from './clientAuth.js';
import { createClientCredentialsGrant } from './clientCredentialsGrant.js';
import { createJsonRefreshGrant } from './jsonRefreshGrant.js';
import { createOAuth2RefreshGrant } from './oauth2RefreshGrant.js';
import { createTokenExchangeGrant, subjectTokenParser } from './tokenExchangeGrant.js';
export function createGrant(settings) {
    const { style, url, timeoutMs, now } = settings;
    if (style === 'json')
        return createJsonRefreshGrant({ url, timeoutMs, now });
    const { clientId, clientSecret, scope, auth, audience, resource } = settings.oauthClient;
    const secretFile = settings.clientSecretFile === undefined ? null : new SecretFile(settings.clientSecretFile.path, settings.clientSecretFile.field);
    const client = secretFile === null ? { clientId, clientSecret } : { clientId, get clientSecret() { return secretFile.read(); } };
    if (auth !== undefined)
        client.authenticate = authenticatorOf(auth, client, url, now ?? systemClock);
    const certificate = auth?.clientCertificate === undefined ? null : tlsClientAgent(auth.clientCertificate);
    if (certificate !== null)
        client.dispatcher = () => certificate.dispatcher();
    const options = { url, client, scope, audience, resource, timeoutMs, now };
    const grant = style === 'token_exchange'
        ? tokenExchangeGrantOf(settings.oauthClient, options)
        : style === 'oauth2' ? createOAuth2RefreshGrant(options) : createClientCredentialsGrant(options);
    return certificate === null ? grant : { ...grant, close: () => certificate.close() };
}
/**
 * tls_client_auth (RFC 8705 §2.1): token requests go over connections that present the client's
 * certificate, a new pool whenever the files change. No `ca` is given: the server is checked
 * against Node's default trust, the system's CAs with NODE_EXTRA_CA_CERTS, as for any other grant.
 */
function tlsClientAgent(files) {
    return new ClientCertificateAgent(new ClientCertificateSource(files), (pair) => new Agent({ connect: { cert: pair.cert, key: pair.key } }));
}
// The subject token file is opened once per grant, as the key and assertion files are.
function tokenExchangeGrantOf(oauthClient, options) {
    // The configuration guarantees the subject token with this grant.
    const { path, field, type } = oauthClient.subjectToken;
    return createTokenExchangeGrant({ ...options, subjectToken: new SecretFile(path, field, subjectTokenParser(type)), subjectTokenType: type });
}
// Key and assertion files are opened once per grant, so their change detection spans requests.
function authenticatorOf(auth, client, tokenUrl, now) {
    const key = auth.privateKey;
    return clientAuthenticator({
        method: auth.method,
        clientId: client.clientId,
        // The configuration guarantees a secret to the methods that send one.
        secret: () => client.clientSecret,
        privateKey: key === null ? undefined : new SecretFile(key.path, key.field, (text) => parseSigningKey(text, key.signingAlg)),
        keyId: key?.keyId,
        assertion: auth.assertionFile === null ? undefined : new SecretFile(auth.assertionFile.path, auth.assertionFile.field, checkJwt),
        tokenUrl,
        now
    });
}
