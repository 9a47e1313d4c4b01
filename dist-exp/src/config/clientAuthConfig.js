// Which fields each client authentication method needs and forbids, checked alike for the
// environment (OAUTH_*) and for a credential of TOKENGATE_CONFIG's file; key and assertion files
// are read once here so that a wrong one stops the start, not the first refresh.
import { resolve } from 'node:path';
import { checkJwt, parseSigningKey } from '../grants/clientAuth.js';
import { readParsedFile } from './boundedFile.js';
import { CERTIFICATE_NEEDS_TLS, checkClientCertificate } from './clientCertificateConfig.js';
/** The most read from a key or assertion file. */
const AUTH_FILE_MAX_BYTES = 64 * 1024;
const KEY_FIELDS = ['privateKeyFile', 'keyId', 'signingAlg'];
/**
 * The explicit client authentication, or undefined when none was chosen (then the caller's
 * rules for a secret hold, as before there was a choice). Problems go to `context.report`.
 */
export function resolveClientAuth(input, context) {
    const { names, report } = context;
    const method = input.method;
    const onlyWith = (key, wanted) => {
        if (input[key] !== undefined)
            report(key, `is used only with ${names.clientAuth} ${wanted}`);
    };
    if (method !== 'private_key_jwt')
        for (const key of KEY_FIELDS)
            onlyWith(key, 'private_key_jwt');
    if (method !== 'client_assertion_file')
        onlyWith('clientAssertionFile', 'client_assertion_file');
    if (method !== 'tls_client_auth')
        for (const key of CERTIFICATE_FIELDS)
            onlyWith(key, 'tls_client_auth');
    if (method === undefined)
        return undefined;
    const usesSecret = method === 'client_secret_basic' || method === 'client_secret_post';
    if (usesSecret && !input.hasSecret)
        report('clientSecret', `is required when ${names.clientAuth} is ${method}`);
    if (!usesSecret && input.hasSecret)
        report('clientSecret', `must not be set when ${names.clientAuth} is ${method} (the secret would never be sent)`);
    // RFC 6749 §4.4: the client credentials grant is for confidential clients only.
    if (method === 'none' && input.clientCredentials)
        report('clientAuth', 'cannot be none for the client credentials grant (confidential clients only)');
    const config = { method, privateKey: null, assertionFile: null };
    if (method === 'private_key_jwt') {
        const path = requiredFile(input.privateKeyFile, 'privateKeyFile', method, context, (text) => parseSigningKey(text, input.signingAlg ?? null));
        if (path !== null)
            config.privateKey = { path, field: context.field('privateKeyFile'), keyId: input.keyId ?? null, signingAlg: input.signingAlg ?? null };
    }
    if (method === 'client_assertion_file') {
        const path = requiredFile(input.clientAssertionFile, 'clientAssertionFile', method, context, checkJwt);
        if (path !== null)
            config.assertionFile = { path, field: context.field('clientAssertionFile') };
    }
    if (method === 'tls_client_auth') {
        const clientCertificate = tlsClientCertificate(input, context);
        if (clientCertificate !== null)
            config.clientCertificate = clientCertificate;
    }
    return config;
}
const CERTIFICATE_FIELDS = ['clientCertFile', 'clientKeyFile'];
// RFC 8705 §2: the certificate is the client's proof, so it needs a TLS connection to be presented on.
function tlsClientCertificate(input, context) {
    const { names, report } = context;
    if (input.tokenUrl !== null && input.tokenUrl.protocol !== 'https:') {
        report('tokenUrl', `must be an https URL when ${names.clientAuth} is tls_client_auth (${CERTIFICATE_NEEDS_TLS})`);
    }
    for (const key of CERTIFICATE_FIELDS) {
        if (input[key] === undefined)
            report(key, `is required when ${names.clientAuth} is tls_client_auth`);
    }
    if (input.clientCertFile === undefined || input.clientKeyFile === undefined)
        return null;
    const paths = checkClientCertificate({ certFile: input.clientCertFile, keyFile: input.clientKeyFile, directory: context.directory, certName: names.clientCertFile }, (file, message) => { report(file === 'cert' ? 'clientCertFile' : 'clientKeyFile', message); });
    if (paths === null)
        return null;
    return { certFile: paths.certFile, certField: context.field('clientCertFile'), keyFile: paths.keyFile, keyField: context.field('clientKeyFile') };
}
// Read once at start-up through the same parser the refresh uses; the absolute path, or null.
function requiredFile(given, key, method, context, parse) {
    if (given === undefined) {
        context.report(key, `is required when ${context.names.clientAuth} is ${method}`);
        return null;
    }
    const path = resolve(context.directory, given);
    const read = readParsedFile(path, AUTH_FILE_MAX_BYTES, parse);
    if ('problem' in read) {
        context.report(key, read.problem);
        return null;
    }
    return path;
}
