// A client certificate given as two files (certificate and private key), for mutual TLS to the
// token URL (tls_client_auth) or to an upstream: both read once here, parsed and checked as a pair,
// so that a wrong one stops the start (or a reload) instead of failing later.
import { resolve } from 'node:path';
import { pairProblem, parseCertificatePem, parsePrivateKeyPem } from '../utils/clientCertificate.js';
import { readParsedFile } from './boundedFile.js';
/** Why a client certificate needs an https:// URL. */
export const CERTIFICATE_NEEDS_TLS = 'the client certificate is presented in the TLS handshake';
/** The most read from a certificate (a chain included) or key file. */
const CERTIFICATE_FILE_MAX_BYTES = 256 * 1024;
/** The absolute paths when both files are good; null when a problem was reported (to `report`). */
export function checkClientCertificate(input, report) {
    const certFile = resolve(input.directory, input.certFile);
    const keyFile = resolve(input.directory, input.keyFile);
    const certificate = readPem(certFile, parseCertificatePem, (message) => { report('cert', message); });
    const key = readPem(keyFile, parsePrivateKeyPem, (message) => { report('key', message); });
    if (certificate === null || key === null)
        return null;
    const problem = pairProblem(certificate.x509, key.key, input.certName);
    if (problem !== null) {
        report('key', `${keyFile} ${problem}`);
        return null;
    }
    return { certFile, keyFile };
}
function readPem(path, parse, report) {
    const read = readParsedFile(path, CERTIFICATE_FILE_MAX_BYTES, parse);
    if ('problem' in read) {
        report(read.problem);
        return null;
    }
    return read.value;
}
