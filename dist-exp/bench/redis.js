// Just enough of the Redis protocol for the benchmark: is a Redis there, and remove the keys a
// storm left behind. (The gateway's own Redis store brings a real client.)
import { connect } from 'node:net';
function encode(args) {
    return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}
/** Sends commands in order and resolves with the raw reply text once `done` says it is complete. */
async function send(redisUrl, commands, done, timeoutMs = 2000) {
    const url = new URL(redisUrl);
    const auth = url.password ? [['AUTH', ...(url.username ? [decodeURIComponent(url.username)] : []), decodeURIComponent(url.password)]] : [];
    const db = url.pathname.length > 1 ? [['SELECT', url.pathname.slice(1)]] : [];
    return new Promise((resolve, reject) => {
        const socket = connect(Number(url.port || 6379), url.hostname || '127.0.0.1');
        let reply = '';
        const timer = setTimeout(() => { socket.destroy(); reject(new Error('no answer from Redis')); }, timeoutMs);
        socket.once('connect', () => socket.write([...auth, ...db, ...commands].map(encode).join('')));
        socket.on('data', (chunk) => {
            reply += chunk.toString('utf8');
            if (done(reply)) {
                clearTimeout(timer);
                socket.end();
                resolve(reply);
            }
        });
        socket.once('error', (err) => { clearTimeout(timer); reject(err); });
    });
}
export async function redisAnswers(redisUrl) {
    try {
        return (await send(redisUrl, [['PING']], (reply) => /\+PONG\r\n$/.test(reply) || reply.includes('-'))).endsWith('+PONG\r\n');
    }
    catch {
        return false;
    }
}
const DELETE_BY_PREFIX = "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do n = n + redis.call('DEL', k) end return n";
/** Deletes every key starting with `prefix`. */
export async function deleteKeys(redisUrl, prefix) {
    await send(redisUrl, [['EVAL', DELETE_BY_PREFIX, '0', `${prefix}*`]], (reply) => /(:\d+|-[^\r]*)\r\n$/.test(reply));
}
