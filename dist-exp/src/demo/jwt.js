// HS256 JWTs for the demo identity provider and the tests. The gateway never verifies
// signatures; these are signed only so they look like what real providers issue.
import { createHmac } from 'node:crypto';
export function signJwt(claims, secret) {
    const header = base64url({ alg: 'HS256', typ: 'JWT' });
    const payload = base64url(claims);
    const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
    return `${header}.${payload}.${signature}`;
}
function base64url(value) {
    return Buffer.from(JSON.stringify(value)).toString('base64url');
}
