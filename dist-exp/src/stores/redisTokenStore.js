// Tokens shared by several gateway processes through Redis. The record carries a version; a
// refresh runs under a lock (SET NX PX, renewed while held, released by compare-and-delete), and
// the processes that find it taken poll for the holder's newer record. Every stored version is
// announced on a channel, which subscribe() listens to. The client is handed in and owned by the
// caller (the store plugin), as @fastify/rate-limit's Redis store does.
import { randomBytes } from 'node:crypto';
import { StoreError } from '../errors.js';
import { realSleep } from '../utils/clock.js';
import { RedisSubscriber } from './redisSubscriber.js';
import { parseTokenRecord } from './tokenStore.js';
export const DEFAULT_LOCK_TTL_MS = 5_000;
export const DEFAULT_POLL_INTERVAL_MS = 50;
// Only the holder may extend or delete the lock: compare the token first, atomically.
const RENEW_LOCK = 'if redis.call(\'get\', KEYS[1]) == ARGV[1] then return redis.call(\'pexpire\', KEYS[1], ARGV[2]) end return 0';
const RELEASE_LOCK = 'if redis.call(\'get\', KEYS[1]) == ARGV[1] then return redis.call(\'del\', KEYS[1]) end return 0';
// A record never goes back in time: a write older than what is stored is refused. A stored
// record is announced on the updates channel so the other processes take it at once.
const SAVE_IF_NEWER = `local current = redis.call('get', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and tonumber(decoded.version) and tonumber(decoded.version) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('set', KEYS[1], ARGV[1])
redis.call('publish', KEYS[2], ARGV[2])
return 1`;
export class RedisTokenStore {
    kind = 'redis';
    recordKey;
    lockKey;
    /** Channel on which every stored version is announced (its message: the version). */
    updatesChannel;
    client;
    lockTtlMs;
    pollIntervalMs;
    sleep;
    subscriber;
    ownsSubscriber;
    constructor(client, options) {
        this.recordKey = `${options.keyPrefix}:tokens`;
        this.lockKey = `${options.keyPrefix}:refresh-lock`;
        this.updatesChannel = `${options.keyPrefix}:updates`;
        this.lockTtlMs = options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
        this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
        this.sleep = options.sleep ?? realSleep;
        this.ownsSubscriber = options.subscriber === undefined;
        this.subscriber = options.subscriber ?? new RedisSubscriber(client);
        if (typeof client.tokengateRenewLock !== 'function') {
            client.defineCommand('tokengateRenewLock', { numberOfKeys: 1, lua: RENEW_LOCK });
            client.defineCommand('tokengateReleaseLock', { numberOfKeys: 1, lua: RELEASE_LOCK });
            client.defineCommand('tokengateSaveIfNewer', { numberOfKeys: 2, lua: SAVE_IF_NEWER });
        }
        this.client = client;
    }
    async load() {
        const text = await this.call(() => this.client.get(this.recordKey));
        if (text === null)
            return null;
        let parsed;
        try {
            parsed = JSON.parse(text);
        }
        catch {
            throw new StoreError(`Redis key ${this.recordKey} is not valid JSON`);
        }
        return parseTokenRecord(parsed, `Redis key ${this.recordKey}`);
    }
    /** Writes the record unless Redis already holds this version or a newer one. */
    async save(record) {
        await this.call(() => this.client.tokengateSaveIfNewer(this.recordKey, this.updatesChannel, JSON.stringify(record), record.version));
    }
    async acquireRefreshLock() {
        const token = randomBytes(16).toString('hex');
        const taken = await this.call(() => this.client.set(this.lockKey, token, 'PX', this.lockTtlMs, 'NX'));
        if (taken !== 'OK')
            return null;
        // Renewed while held, so a refresh slower than the lock's first life keeps it.
        const renewal = setInterval(() => {
            this.client.tokengateRenewLock(this.lockKey, token, this.lockTtlMs).catch(() => { });
        }, Math.max(10, Math.floor(this.lockTtlMs / 3)));
        renewal.unref();
        return {
            release: async () => {
                clearInterval(renewal);
                await this.call(() => this.client.tokengateReleaseLock(this.lockKey, token));
            }
        };
    }
    async waitForNewerRecord(version, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            // The lock is looked at first: a holder writes its record before it releases the lock.
            const locked = await this.call(() => this.client.exists(this.lockKey));
            const record = await this.load();
            if (record !== null && record.version > version)
                return record;
            if (locked === 0 || Date.now() >= deadline)
                return null;
            await this.sleep(this.pollIntervalMs);
        }
    }
    /** Listens on updatesChannel; the client's own connection tells losses and returns. */
    async subscribe(events) {
        return await this.subscriber.subscribe(this.updatesChannel, events);
    }
    /** Ends the subscriptions of a subscriber of its own; the client belongs to whoever created it. */
    async close() {
        if (this.ownsSubscriber)
            await this.subscriber.close();
    }
    async call(command) {
        try {
            return await command();
        }
        catch (err) {
            throw new StoreError(`Redis unavailable (${err.message})`);
        }
    }
}
