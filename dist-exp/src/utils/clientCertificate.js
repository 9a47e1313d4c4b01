// A client certificate and its private key kept in two PEM files (mutual TLS, RFC 8705), read
// again when either changes on disk: the identity provider's tls_client_auth and an upstream that
// asks for a certificate both use it. Messages name the files' fields, never quote their text.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { RefreshError } from '../errors.js';
import { SecretFile } from './secretFile.js';
/** The first certificate of a PEM file (more may follow: the chain up to the CA). */
export function parseCertificatePem(text) {
    if (!text.includes('-----BEGIN CERTIFICATE-----'))
        throw new Error('is not a PEM certificate (-----BEGIN CERTIFICATE-----)');
    try {
        return { pem: text, x509: new X509Certificate(text) };
    }
    catch {
        throw new Error('is not a PEM certificate (it does not parse)');
    }
}
export function parsePrivateKeyPem(text) {
    try {
        return { pem: text, key: createPrivateKey(text) };
    }
    catch {
        throw new Error('is not a PEM private key (PKCS#8, PKCS#1 or SEC 1, unencrypted)');
    }
}
/** Why the key is not the certificate's, or null when it is. */
export function pairProblem(certificate, key, certField) {
    return certificate.checkPrivateKey(key) ? null : `does not hold the private key of the certificate in ${certField}`;
}
/**
 * The two files, each re-read when it changed (src/utils/secretFile.ts), and checked as a pair.
 * Keeps the last good pair's identity so a caller can tell a new pair from the same one.
 */
export class ClientCertificateSource {
    files;
    certificate;
    key;
    last = null;
    constructor(files) {
        this.files = files;
        this.certificate = new SecretFile(files.certFile, files.certField, parseCertificatePem);
        this.key = new SecretFile(files.keyFile, files.keyField, parsePrivateKeyPem);
    }
    /**
     * The pair as it is on disk now: the same object as last time while neither file changed.
     * Throws a RefreshError naming the field when a file cannot be read or parsed, or when the key
     * is not the certificate's (a rotation half done: the next read looks again).
     */
    read() {
        const certificate = this.certificate.read();
        const key = this.key.read();
        const last = this.last;
        if (last !== null && last.certificate === certificate && last.key === key)
            return last.pair;
        const problem = pairProblem(certificate.x509, key.key, this.files.certField);
        if (problem !== null) {
            throw new RefreshError({ reason: 'secret_file_malformed', retryable: false, rejected: false }, `${this.files.keyField} (${this.files.keyFile}) ${problem}`);
        }
        const pair = { cert: certificate.pem, key: key.pem };
        this.last = { certificate, key, pair };
        return pair;
    }
}
/**
 * One connection pool (an undici Agent) per certificate pair: when the pair on disk changes, the
 * next caller gets a new pool presenting the new certificate, and the old one is closed (the
 * requests it carries finish first). TLS binds the certificate to a connection, so a pool made
 * for one pair can never present another.
 */
export class ClientCertificateAgent {
    source;
    build;
    current = null;
    constructor(source, build) {
        this.source = source;
        this.build = build;
    }
    /** The pool for the pair on disk now; throws as ClientCertificateSource.read does. */
    dispatcher() {
        const pair = this.source.read();
        const current = this.current;
        if (current !== null && current.pair === pair)
            return current.dispatcher;
        this.current = { pair, dispatcher: this.build(pair) };
        if (current !== null)
            closeQuietly(current.dispatcher);
        return this.current.dispatcher;
    }
    /** The pair of the pool in use; null before the first one was built. */
    get pair() {
        return this.current?.pair ?? null;
    }
    async close() {
        const current = this.current;
        this.current = null;
        if (current !== null)
            await current.dispatcher.close();
    }
}
// Closing waits for the requests in flight; nothing waits for it, and a pool that fails to close
// has nothing left to say.
export function closeQuietly(dispatcher) {
    /* c8 ignore next -- an undici Agent's close() rejects only when it was closed already, which this one never was */
    dispatcher.close().catch(() => { });
}
