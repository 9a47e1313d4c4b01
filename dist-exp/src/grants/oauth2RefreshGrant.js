// TOKEN_REFRESH_STYLE=oauth2: the refresh of RFC 6749 §6, form-encoded
// grant_type=refresh_token&refresh_token=…[&scope=…] with the client authenticated (§2.3.1),
// answered by {access_token, token_type, refresh_token?, expires_in?} (§5.1) or an error (§5.2).
import { systemClock } from '../utils/clock.js';
import { badResponse, expiryFromLifetime, oauthFailure, postTokenRequest } from './httpExchange.js';
import { answerObject, keepingRefreshToken, lifetimeProblem, optionalToken, requiredAccessToken } from './tokenAnswer.js';
export function createOAuth2RefreshGrant(options) {
    const now = options.now ?? systemClock;
    return {
        style: 'oauth2',
        needsRefreshToken: true,
        async exchange(refreshToken) {
            // The service calls a grant that needs a refresh token only while it holds one.
            const params = tokenRequestParams(options, [['grant_type', 'refresh_token'], ['refresh_token', refreshToken]]);
            const answer = await postTokenRequest(options.url, params, options.client, options);
            if (answer.status < 200 || answer.status > 299)
                throw oauthFailure(answer, 'refresh_token');
            return { ...parseOAuthTokenAnswer(answer.json, now()), providerDateMs: answer.dateMs };
        }
    };
}
/** The form of a token request: the grant's own parameters, then scope, audience and resource when set. */
export function tokenRequestParams(options, grant) {
    const params = [...grant];
    if (options.scope)
        params.push(['scope', options.scope]);
    for (const audience of options.audience ?? [])
        params.push(['audience', audience]);
    for (const resource of options.resource ?? [])
        params.push(['resource', resource]);
    return params;
}
/**
 * Validates a successful token answer (RFC 6749 §5.1). The gateway sends the token as a Bearer
 * token, so a token_type other than Bearer (DPoP, MAC) is refused rather than sent wrongly;
 * a missing token_type is tolerated, as many servers leave it out.
 */
export function parseOAuthTokenAnswer(json, nowMs) {
    const answer = answerObject(json);
    const refreshToken = optionalToken(answer.refresh_token, 'refresh_token');
    return keepingRefreshToken(refreshToken, () => {
        const accessToken = requiredAccessToken(answer, 'access_token');
        if (answer.token_type !== undefined && (typeof answer.token_type !== 'string' || answer.token_type.toLowerCase() !== 'bearer')) {
            throw badResponse('token_type is not Bearer');
        }
        const expiresAtMs = expiryFromLifetime(answer.expires_in, nowMs);
        return { accessToken, refreshToken, expiresAtMs, lifetimeProblem: lifetimeProblem({ expires_in: answer.expires_in }, expiresAtMs) };
    });
}
