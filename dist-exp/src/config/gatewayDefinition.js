/** The credential of a gateway configured by the environment alone. */
export const DEFAULT_CREDENTIAL = 'default';
/** A credential's name: lower-case letters, digits and '-', 1 to 40 characters. */
export const CREDENTIAL_NAME = /^[a-z0-9-]{1,40}$/;
/** The gateway configured by the environment alone: one credential `default`, one route `/` to UPSTREAM_URL. */
export function definitionFromEnvironment(config) {
    return {
        file: null,
        credentials: [{
                name: DEFAULT_CREDENTIAL,
                tokenGrant: config.tokenGrant,
                refreshStyle: config.refreshStyle,
                refreshUrl: config.refreshUrl,
                accessToken: config.authToken,
                refreshToken: config.refreshToken,
                oauthClient: config.oauthClient,
                expiryBufferMs: config.expiryBufferMs,
                refreshIntervalMs: config.refreshIntervalMs,
                files: {}
            }],
        routes: [{
                path: '/',
                upstream: config.upstream,
                credential: DEFAULT_CREDENTIAL,
                timeoutMs: config.upstreamTimeoutMs,
                ...(config.upstreamClientCertificate === null ? {} : { clientCertificate: config.upstreamClientCertificate })
            }]
    };
}
