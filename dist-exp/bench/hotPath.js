// The hot path alone: getValidAccessToken() on a valid cached token, awaited the way the proxy's
// onRequest hook awaits it, in operations per second (median of several batches).
import { signJwt } from '../src/demo/jwt.js';
import { TokenRefreshService } from '../src/services/tokenRefreshService.js';
export async function measureHotPath(operations = 5_000_000, batches = 7) {
    const nowS = Math.floor(Date.now() / 1000);
    const token = signJwt({ sub: 'user_bench', iss: 'https://idp.bench.test', iat: nowS, exp: nowS + 3600 }, 'bench-secret');
    const service = new TokenRefreshService(token, 'rt_bench', 'http://127.0.0.1:9/unused');
    let sink = 0;
    const batch = async (n) => {
        const started = process.hrtime.bigint();
        for (let i = 0; i < n; i++)
            sink += (await service.getValidAccessToken()).length;
        return Number(process.hrtime.bigint() - started);
    };
    await batch(operations / 5); // warm-up: let the JIT settle
    const rates = [];
    for (let i = 0; i < batches; i++)
        rates.push(operations / (await batch(operations) / 1e9));
    if (sink === 0)
        throw new Error('unreachable: keeps the loop from being optimised away');
    const opsPerSecond = median(rates);
    return { opsPerSecond, nsPerOp: 1e9 / opsPerSecond, batches: rates };
}
export function median(values) {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
