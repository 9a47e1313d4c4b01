// The seed's refresh style: POST {"refreshToken"} as JSON, answered by
// {"accessToken", "refreshToken"?, "expiresIn"?, "expiresAt"?}.
import { systemClock } from '../utils/clock.js';
import { expiryFromInstant, expiryFromLifetime, failureFromStatus, postForJson } from './httpExchange.js';
import { answerObject, keepingRefreshToken, lifetimeProblem, optionalToken, requiredAccessToken } from './tokenAnswer.js';
export function createJsonRefreshGrant(options) {
    const now = options.now ?? systemClock;
    return {
        style: 'json',
        needsRefreshToken: true,
        async exchange(refreshToken) {
            const answer = await postForJson(options.url, { 'content-type': 'application/json' }, JSON.stringify({ refreshToken }), options);
            if (answer.status < 200 || answer.status > 299)
                throw failureFromStatus(answer);
            return { ...parseJsonRefreshAnswer(answer.json, now()), providerDateMs: answer.dateMs };
        }
    };
}
/** Validates a 2xx answer; never returns a set without a non-empty access token. */
export function parseJsonRefreshAnswer(json, nowMs) {
    const answer = answerObject(json);
    const refreshToken = optionalToken(answer.refreshToken, 'refreshToken');
    return keepingRefreshToken(refreshToken, () => {
        const expiresAtMs = expiryFromLifetime(answer.expiresIn, nowMs) ?? expiryFromInstant(answer.expiresAt);
        return {
            accessToken: requiredAccessToken(answer, 'accessToken'),
            refreshToken,
            expiresAtMs,
            lifetimeProblem: lifetimeProblem({ expiresIn: answer.expiresIn, expiresAt: answer.expiresAt }, expiresAtMs)
        };
    });
}
