// TOKEN_GRANT=token_exchange: RFC 8693. The gateway trades a token the platform gives it (a
// Kubernetes projected service-account token, a workload-identity token), read from a file again
// whenever the file changed, for the upstream's access token. Like client_credentials it needs
// neither AUTH_TOKEN nor a refresh token: "refreshing" is exchanging again before expiry.
import { systemClock } from '../utils/clock.js';
import { checkJwt } from './clientAuth.js';
import { oauthFailure, postTokenRequest } from './httpExchange.js';
import { parseOAuthTokenAnswer, tokenRequestParams } from './oauth2RefreshGrant.js';
/** RFC 8693 §2.1: the grant_type of a token exchange. */
export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3: the type of a JWT subject token, the default of subjectTokenType. */
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/**
 * How the subject token file is checked, at start-up and for every exchange alike: a JWT for the
 * jwt type (its signature and claims are the server's to judge); for any other, the text as it is.
 */
export function subjectTokenParser(type) {
    return type === JWT_TOKEN_TYPE ? checkJwt : (text) => text;
}
export function createTokenExchangeGrant(options) {
    const now = options.now ?? systemClock;
    return {
        style: 'token_exchange',
        needsRefreshToken: false,
        async exchange() {
            // Read before the request: an unreadable or malformed file fails the refresh naming its field.
            const subjectToken = options.subjectToken.read();
            const params = tokenRequestParams(options, [
                ['grant_type', TOKEN_EXCHANGE_GRANT_TYPE],
                ['subject_token', subjectToken],
                ['subject_token_type', options.subjectTokenType]
            ]);
            const answer = await postTokenRequest(options.url, params, options.client, options);
            if (answer.status < 200 || answer.status > 299)
                throw oauthFailure(answer, 'token_exchange');
            // §2.2.1 allows a refresh token; exchanging the subject token again makes it needless.
            return { ...parseOAuthTokenAnswer(answer.json, now()), refreshToken: null, providerDateMs: answer.dateMs };
        }
    };
}
