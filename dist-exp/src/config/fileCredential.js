// One credential of TOKENGATE_CONFIG's file, checked as the environment's single credential is
// (src/config/gatewayConfig.ts): its grant and refresh style, the token URL, the tokens and the
// OAuth client, secrets given inline, through `${VAR}` or read from a `*File` twin.
import { resolve } from 'node:path';
import { MAX_TIMER_MS } from './schema.js';
import { readParsedFile } from './boundedFile.js';
import { addProblem, checkKeys, choiceField, interpolatedString, isGiven, isMapping, numberField, placeOf, stringField, urlField } from './fileFields.js';
import { CREDENTIAL_NAME } from './gatewayDefinition.js';
import { obtainsOwnTokens } from './gatewayConfig.js';
import { SCOPE_PROBLEM, normaliseScope } from './oauthScope.js';
import { resolveClientAuth } from './clientAuthConfig.js';
import { RESOURCE_PROBLEM, resourcesValid } from './tokenTargets.js';
import { resolveSubjectToken } from './subjectTokenConfig.js';
import { CLIENT_AUTH_METHODS, SIGNING_ALGS } from '../grants/clientAuth.js';
/** The most read from a secret file: above the largest ACCESS_TOKEN_MAX_SIZE (1 MiB), with room for whitespace. */
export const SECRET_FILE_MAX_BYTES = 2 * 1024 * 1024;
const CREDENTIAL_FIELDS = [
    'grant', 'refreshStyle', 'tokenUrl', 'accessToken', 'accessTokenFile', 'refreshToken', 'refreshTokenFile',
    'clientId', 'clientSecret', 'clientSecretFile', 'scope', 'expiryBuffer', 'refreshInterval',
    'clientAuth', 'privateKeyFile', 'keyId', 'signingAlg', 'clientAssertionFile', 'audience', 'resource',
    'clientCertFile', 'clientKeyFile', 'subjectTokenFile', 'subjectTokenType'
];
const GRANTS = ['refresh_token', 'client_credentials', 'token_exchange'];
const REFRESH_STYLES = ['json', 'oauth2'];
// Minutes, as TOKEN_EXPIRY_BUFFER and TOKEN_REFRESH_INTERVAL: their milliseconds must fit a timer.
const MAX_MINUTES = Math.floor(MAX_TIMER_MS / 60_000);
/** The credential named `name`, or null when it has a problem (every one is reported). */
export function parseCredential(name, raw, context) {
    const before = context.problems.length;
    const place = placeOf('credentials', name);
    if (!CREDENTIAL_NAME.test(name))
        addProblem(context, place, 'is not a credential name: lower-case letters, digits and \'-\', 1 to 40 characters');
    if (!isMapping(raw)) {
        addProblem(context, place, 'must be a mapping of fields (grant, tokenUrl, accessToken, …)');
        return null;
    }
    checkKeys(raw, place, CREDENTIAL_FIELDS, context);
    const grant = choiceField(raw, 'grant', place, GRANTS, context);
    const style = choiceField(raw, 'refreshStyle', place, REFRESH_STYLES, context);
    // The checks between fields hold only for a grant and style that are known.
    const crossCheck = grant !== null && style !== null;
    const tokenGrant = grant ?? 'refresh_token';
    // client_credentials and token_exchange: each is its own exchange, with no refresh token.
    const ownTokens = obtainsOwnTokens(tokenGrant);
    if (crossCheck && ownTokens && isGiven(raw, 'refreshStyle')) {
        addProblem(context, placeOf(place, 'refreshStyle'), `applies to grant refresh_token only (${tokenGrant} has one exchange of its own)`);
    }
    const refreshStyle = ownTokens ? tokenGrant : style ?? 'json';
    const tokenUrl = urlField(raw, 'tokenUrl', place, context, { query: true });
    const files = {};
    const accessToken = secretField(raw, 'accessToken', place, context, files);
    const refreshToken = secretField(raw, 'refreshToken', place, context, files);
    if (crossCheck && ownTokens) {
        for (const key of ['refreshToken', 'refreshTokenFile']) {
            if (isGiven(raw, key))
                addProblem(context, placeOf(place, key), `applies to grant refresh_token only (${tokenGrant} needs no refresh token)`);
        }
    }
    if (typeof accessToken === 'string' && Buffer.byteLength(accessToken) > context.defaults.accessTokenMaxBytes) {
        const key = files.accessToken === undefined ? 'accessToken' : 'accessTokenFile';
        addProblem(context, placeOf(place, key), `is ${Buffer.byteLength(accessToken)} bytes, more than ACCESS_TOKEN_MAX_SIZE (${context.defaults.accessTokenMaxBytes}): it could not travel in a header`);
    }
    const oauthClient = parseOAuthClient(raw, place, crossCheck ? refreshStyle : null, tokenUrl, context, files);
    const expiryBuffer = numberField(raw, 'expiryBuffer', place, context, `must be a number of minutes from 0 to ${MAX_MINUTES}`);
    if (typeof expiryBuffer === 'number' && (expiryBuffer < 0 || expiryBuffer > MAX_MINUTES)) {
        addProblem(context, placeOf(place, 'expiryBuffer'), `must be a number of minutes from 0 to ${MAX_MINUTES}`);
    }
    const refreshInterval = numberField(raw, 'refreshInterval', place, context, `must be a number of minutes above 0, at most ${MAX_MINUTES}`);
    if (typeof refreshInterval === 'number' && (refreshInterval <= 0 || refreshInterval > MAX_MINUTES)) {
        addProblem(context, placeOf(place, 'refreshInterval'), `must be a number of minutes above 0, at most ${MAX_MINUTES}`);
    }
    if (context.problems.length > before)
        return null;
    return {
        name,
        tokenGrant,
        refreshStyle,
        refreshUrl: tokenUrl.href,
        accessToken: accessToken ?? null,
        refreshToken: refreshToken ?? null,
        oauthClient,
        expiryBufferMs: typeof expiryBuffer === 'number' ? expiryBuffer * 60_000 : context.defaults.expiryBufferMs,
        refreshIntervalMs: typeof refreshInterval === 'number' ? refreshInterval * 60_000 : context.defaults.refreshIntervalMs,
        files
    };
}
/** As resolveOAuthClient does for OAUTH_*: oauth2, client_credentials and token_exchange need a client id; client_credentials a secret. */
function parseOAuthClient(raw, place, refreshStyle, tokenUrl, context, files) {
    const clientId = stringField(raw, 'clientId', place, context);
    const clientSecret = secretField(raw, 'clientSecret', place, context, files);
    const scopeText = stringField(raw, 'scope', place, context);
    const method = choiceField(raw, 'clientAuth', place, CLIENT_AUTH_METHODS, context);
    const signingAlg = choiceField(raw, 'signingAlg', place, SIGNING_ALGS, context);
    const privateKeyFile = stringField(raw, 'privateKeyFile', place, context);
    const keyId = stringField(raw, 'keyId', place, context);
    const clientAssertionFile = stringField(raw, 'clientAssertionFile', place, context);
    const clientCertFile = stringField(raw, 'clientCertFile', place, context);
    const clientKeyFile = stringField(raw, 'clientKeyFile', place, context);
    const audience = stringListField(raw, 'audience', place, context);
    const resource = stringListField(raw, 'resource', place, context);
    if (resource && !resourcesValid(resource))
        addProblem(context, placeOf(place, 'resource'), RESOURCE_PROBLEM);
    const subjectTokenFile = stringField(raw, 'subjectTokenFile', place, context);
    const subjectTokenType = stringField(raw, 'subjectTokenType', place, context);
    const scope = typeof scopeText === 'string' ? normaliseScope(scopeText) : null;
    if (scope === undefined)
        addProblem(context, placeOf(place, 'scope'), SCOPE_PROBLEM);
    // An unknown grant or style is reported already; which fields it needs is anyone's guess.
    if (refreshStyle === null)
        return null;
    if (refreshStyle === 'json') {
        // Set but never sent: most likely `refreshStyle: oauth2` was forgotten.
        for (const key of ['clientId', 'clientSecret', 'clientSecretFile', 'scope', ...CLIENT_AUTH_FIELDS, 'audience', 'resource']) {
            if (isGiven(raw, key))
                addProblem(context, placeOf(place, key), 'is used only with refreshStyle oauth2 or grant client_credentials or token_exchange');
        }
    }
    // Checked for every grant: the fields are refused without token_exchange.
    const subjectToken = subjectTokenFile === null || subjectTokenType === null
        ? null
        : resolveSubjectToken({ file: subjectTokenFile, type: subjectTokenType, tokenExchange: refreshStyle === 'token_exchange' }, {
            names: { grant: 'grant', subjectTokenFile: 'subjectTokenFile', subjectTokenType: 'subjectTokenType' },
            report: (key, message) => { addProblem(context, placeOf(place, key), message); },
            field: placeOf(place, 'subjectTokenFile'),
            directory: context.directory
        });
    if (refreshStyle === 'json')
        return null;
    const because = refreshStyle === 'oauth2' ? 'refreshStyle is oauth2' : `grant is ${refreshStyle}`;
    if (clientId === undefined)
        addProblem(context, placeOf(place, 'clientId'), `is required when ${because}`);
    // A value already reported as unusable (null) is neither checked again nor reported missing.
    const given = (value) => value ?? undefined;
    const unusable = [method, signingAlg, privateKeyFile, keyId, clientAssertionFile, clientSecret, clientCertFile, clientKeyFile].includes(null);
    const auth = unusable
        ? undefined
        : resolveClientAuth({
            method: given(method),
            hasSecret: clientSecret !== undefined,
            privateKeyFile: given(privateKeyFile),
            keyId: given(keyId),
            signingAlg: given(signingAlg),
            clientAssertionFile: given(clientAssertionFile),
            clientCertFile: given(clientCertFile),
            clientKeyFile: given(clientKeyFile),
            tokenUrl,
            clientCredentials: refreshStyle === 'client_credentials'
        }, {
            names: CLIENT_AUTH_NAMES,
            report: (key, message) => { addProblem(context, placeOf(place, key === 'clientSecret' && isGiven(raw, 'clientSecretFile') ? 'clientSecretFile' : key), message); },
            field: (key) => placeOf(place, key),
            directory: context.directory
        });
    // RFC 6749 §4.4: the client credentials grant is for confidential clients only; a chosen
    // method has had its own needs checked above.
    if (method === undefined && clientSecret === undefined && refreshStyle === 'client_credentials') {
        addProblem(context, placeOf(place, 'clientSecret'), `is required when ${because} (or clientSecretFile)`);
    }
    if (typeof clientId !== 'string')
        return null;
    const client = { clientId, clientSecret: clientSecret ?? null, scope: scope ?? null };
    if (auth !== undefined)
        client.auth = auth;
    if (audience)
        client.audience = audience;
    if (resource)
        client.resource = resource;
    if (subjectToken !== null)
        client.subjectToken = subjectToken;
    return client;
}
/** One string or a list of them, each through `${VAR}`; undefined when not given, null when unusable (reported). */
function stringListField(raw, key, place, context) {
    const value = raw[key];
    if (!Array.isArray(value)) {
        const single = stringField(raw, key, place, context);
        return typeof single === 'string' ? [single] : single;
    }
    const where = placeOf(place, key);
    const items = value.map((item, index) => listItem(item, `${where}[${index}]`, context));
    if (items.length === 0)
        addProblem(context, where, 'must list at least one value');
    return items.length > 0 && items.every((item) => item !== null) ? items : null;
}
function listItem(item, place, context) {
    const text = interpolatedString(item, place, context);
    if (text === '')
        addProblem(context, place, 'must not be empty');
    return text === '' ? null : text;
}
const CLIENT_AUTH_FIELDS = ['clientAuth', 'privateKeyFile', 'keyId', 'signingAlg', 'clientAssertionFile', 'clientCertFile', 'clientKeyFile'];
const CLIENT_AUTH_NAMES = {
    clientAuth: 'clientAuth',
    clientSecret: 'clientSecret',
    privateKeyFile: 'privateKeyFile',
    keyId: 'keyId',
    signingAlg: 'signingAlg',
    clientAssertionFile: 'clientAssertionFile',
    clientCertFile: 'clientCertFile',
    clientKeyFile: 'clientKeyFile',
    tokenUrl: 'tokenUrl'
};
/**
 * A secret given inline (or through `${VAR}`) or read from its `*File` twin, trimmed; the twin's
 * absolute path is recorded in `files`. Undefined when neither is given, null when unusable.
 */
function secretField(raw, field, place, context, files) {
    const twin = `${field}File`;
    if (!isGiven(raw, twin))
        return stringField(raw, field, place, context);
    if (isGiven(raw, field)) {
        addProblem(context, placeOf(place, twin), `must not be set together with ${field}`);
        return null;
    }
    const path = stringField(raw, twin, place, context);
    if (typeof path !== 'string')
        return path;
    const absolute = resolve(context.directory, path);
    const read = readParsedFile(absolute, SECRET_FILE_MAX_BYTES, (text) => text);
    if ('problem' in read) {
        addProblem(context, placeOf(place, twin), read.problem);
        return null;
    }
    files[field] = absolute;
    return read.value;
}
