// A local identity provider that behaves like the seed's refresh endpoint (WorkOS-style):
// POST {"refreshToken"} → {"accessToken", "refreshToken"}, each refresh token accepted once.
// The demo runs it; the tests use it too, with faults injected on demand.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { systemClock } from '../utils/clock.js';
import { signJwt } from './jwt.js';
export const REFRESH_PATH = '/auth/v2/refresh-session';
export class IdentityProvider {
    issuer;
    subject = 'user_01DEMO00000000000000000000';
    email = 'demo.user@example.com';
    organization = 'org_01DEMO00000000000000000000';
    /** Every refresh request received, in order. */
    calls = [];
    /** Access tokens issued by refreshes, in order. */
    issued = [];
    /** The one refresh token the provider accepts next. */
    validRefreshToken;
    delayMs;
    faults = [];
    server;
    secret = randomBytes(32).toString('hex');
    ttlSeconds;
    now;
    options;
    sequence = 0;
    open = new Set();
    url = '';
    constructor(options = {}) {
        this.options = options;
        this.ttlSeconds = options.tokenTtlSeconds ?? 60;
        this.delayMs = options.delayMs ?? 0;
        this.now = options.now ?? systemClock;
        this.issuer = 'https://idp.tokengate.test/demo';
        this.validRefreshToken = this.newRefreshToken();
        this.server = createServer((req, res) => { this.handle(req, res); });
    }
    get refreshUrl() {
        return `${this.url}${REFRESH_PATH}`;
    }
    async listen() {
        await new Promise((resolve) => this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve));
        const { port } = this.server.address();
        this.url = `http://127.0.0.1:${port}`;
        return this;
    }
    async close() {
        for (const res of this.open)
            res.destroy();
        this.server.closeAllConnections();
        await new Promise((resolve) => this.server.close(() => resolve()));
    }
    /** The next `times` refreshes misbehave as `fault` (faults queue up in order). */
    failNext(fault, times = 1) {
        for (let i = 0; i < times; i++)
            this.faults.push(fault);
    }
    /** An access token like the ones refreshes issue, living `ttlSeconds` from now. */
    mint(ttlSeconds = this.ttlSeconds, extra = {}) {
        const iat = Math.floor(this.now() / 1000);
        return signJwt({
            sub: this.subject,
            email: this.email,
            iss: this.issuer,
            org_id: this.organization,
            sid: `session_${++this.sequence}`,
            iat,
            exp: iat + ttlSeconds,
            ...extra
        }, this.secret);
    }
    newRefreshToken() {
        return `rt_${randomBytes(18).toString('base64url')}`;
    }
    handle(req, res) {
        if (req.method !== 'POST' || req.url !== REFRESH_PATH) {
            res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
            return;
        }
        this.open.add(res);
        res.on('close', () => this.open.delete(res));
        const chunks = [];
        req.on('data', (chunk) => chunks.push(chunk));
        req.on('end', () => {
            let refreshToken;
            try {
                refreshToken = JSON.parse(Buffer.concat(chunks).toString('utf8')).refreshToken;
            }
            catch {
                refreshToken = undefined;
            }
            const traceparent = req.headers.traceparent;
            const answer = () => this.answer(refreshToken, traceparent, res);
            if (this.delayMs > 0)
                setTimeout(answer, this.delayMs);
            else
                answer();
        });
    }
    answer(refreshToken, traceparent, res) {
        const fault = this.faults.shift();
        const record = (status) => { this.calls.push({ refreshToken, status, at: this.now(), traceparent }); };
        const json = (status, body, headers = {}) => {
            record(status);
            // The provider's own clock, as a real one's Date header would show it (tests move it).
            res.writeHead(status, { 'content-type': 'application/json', date: new Date(this.now()).toUTCString(), ...headers }).end(JSON.stringify(body));
        };
        switch (fault) {
            case 'http_500': return json(500, { error: 'server_error' });
            case 'http_503': return json(503, { error: 'temporarily_unavailable' });
            case 'http_429': return json(429, { error: 'slow_down' }, { 'retry-after': '1' });
            case 'invalid_grant': return json(400, { error: 'invalid_grant', error_description: 'refresh token revoked' });
            case 'no_access_token':
                // The refresh token is rotated all the same: the one presented is now spent.
                this.validRefreshToken = this.newRefreshToken();
                return json(200, { refreshToken: this.validRefreshToken, note: 'no access token here' });
            case 'expired_token': {
                this.validRefreshToken = this.newRefreshToken();
                const iat = Math.floor(this.now() / 1000) - 600;
                const accessToken = this.mint(300, { iat, exp: iat + 300 });
                this.issued.push(accessToken);
                return json(200, { accessToken, refreshToken: this.validRefreshToken });
            }
            case 'oversized_token': {
                this.validRefreshToken = this.newRefreshToken();
                // About 60 KB once base64url-encoded, so the whole answer stays within the gateway's 64 KiB limit.
                const accessToken = this.mint(this.ttlSeconds, { padding: 'x'.repeat(45 * 1024) });
                this.issued.push(accessToken);
                return json(200, { accessToken, refreshToken: this.validRefreshToken });
            }
            case 'garbage':
                record(200);
                res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Service temporarily unavailable</html>');
                return;
            case 'huge':
                record(200);
                res.writeHead(200, { 'content-type': 'application/json' }).end(`{"accessToken":"${'x'.repeat(10 * 1024 * 1024)}"}`);
                return;
            case 'hang':
                record(0);
                return;
            case 'trickle': {
                record(200);
                res.writeHead(200, { 'content-type': 'application/json' });
                const timer = setInterval(() => res.write(' '), 100);
                res.on('close', () => clearInterval(timer));
                return;
            }
        }
        if (typeof refreshToken !== 'string' || refreshToken !== this.validRefreshToken) {
            this.options.log?.('[identity provider] refused a refresh token that is not the current one (invalid_grant)');
            return json(400, { error: 'invalid_grant', error_description: 'refresh token invalid or already used' });
        }
        const accessToken = this.mint();
        this.issued.push(accessToken);
        const body = { accessToken };
        if (this.options.rotate !== false) {
            this.validRefreshToken = this.newRefreshToken();
            body.refreshToken = this.validRefreshToken;
        }
        if (this.options.sendExpiresIn)
            body.expiresIn = this.ttlSeconds;
        this.options.log?.(`[identity provider] refresh #${this.issued.length}: issued a ${this.ttlSeconds}-second access token` +
            (this.options.rotate !== false ? ' and rotated the refresh token (the old one is now dead)' : ''));
        json(200, body);
    }
}
export async function startIdentityProvider(options = {}) {
    return new IdentityProvider(options).listen();
}
