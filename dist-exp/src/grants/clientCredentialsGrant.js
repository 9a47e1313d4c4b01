// TOKEN_GRANT=client_credentials: RFC 6749 §4.4. The gateway obtains its tokens with the client's
// own credentials (grant_type=client_credentials[&scope=…], HTTP Basic), so it needs neither
// AUTH_TOKEN nor a refresh token; "refreshing" is asking for a new token before this one expires.
import { systemClock } from '../utils/clock.js';
import { oauthFailure, postTokenRequest } from './httpExchange.js';
import { parseOAuthTokenAnswer, tokenRequestParams } from './oauth2RefreshGrant.js';
export function createClientCredentialsGrant(options) {
    const now = options.now ?? systemClock;
    return {
        style: 'client_credentials',
        needsRefreshToken: false,
        async exchange() {
            const params = tokenRequestParams(options, [['grant_type', 'client_credentials']]);
            const answer = await postTokenRequest(options.url, params, options.client, options);
            if (answer.status < 200 || answer.status > 299)
                throw oauthFailure(answer, 'client_credentials');
            // §4.4.3: a refresh token SHOULD NOT be included; one that is has no use here.
            return { ...parseOAuthTokenAnswer(answer.json, now()), refreshToken: null, providerDateMs: answer.dateMs };
        }
    };
}
