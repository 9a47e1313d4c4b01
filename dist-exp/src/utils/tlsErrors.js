// OpenSSL's verification codes as Node reports them (DEPTH_ZERO_SELF_SIGNED_CERT,
// UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, …).
const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/;
/** Whether an error code says the peer's certificate was not trusted (a private CA, say). */
export function isCertificateError(code) {
    return typeof code === 'string' && CERTIFICATE_ERROR.test(code);
}
