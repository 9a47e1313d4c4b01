// Whether Redis keeps a write it has acknowledged when its machine fails. A rotated refresh token
// is saved before it is used, and once the identity provider has spent the one before it, Redis
// may hold the only copy. With the append-only file fsynced once a second (Redis's default) a
// write is acknowledged once it is in the operating system's cache: it survives Redis killed, not
// a crash of the machine, which loses up to the last second or two, and the next refresh presents
// the spent token (a strict identity provider then revokes the whole family). Only `appendonly
// yes` with `appendfsync always` acknowledges a write after it is on disk. Redis 7.0 has no
// command to wait for one write's fsync (WAITAOF came in 7.2), so the setting is checked at start.
import type { Redis } from 'ioredis'

export type RedisDurability =
  | { durable: true }
  /** `unknown`: CONFIG GET was refused (renamed, an ACL, a managed service): nothing is known. */
  | { durable: false, known: boolean, message: string }

export async function redisDurability (client: Pick<Redis, 'config'>): Promise<RedisDurability> {
  let settings: Map<string, string>
  try {
    const flat = await client.config('GET', 'append*') as string[]
    settings = new Map(flat.flatMap((value, i) => i % 2 === 0 ? [[value, flat[i + 1]!] as const] : []))
  } catch (err) {
    return {
      durable: false,
      known: false,
      message: `could not read Redis's persistence settings (CONFIG GET: ${(err as Error).message}); make sure Redis runs with appendonly yes and appendfsync always, or a crash of its machine can lose the last rotated refresh token`
    }
  }
  // String(): a setting missing from the answer (no Redis does that) reads as "undefined".
  const appendonly = String(settings.get('appendonly'))
  const appendfsync = String(settings.get('appendfsync'))
  if (appendonly !== 'yes') {
    return {
      durable: false,
      known: true,
      message: `Redis runs without its append-only file (appendonly ${appendonly}): a restart or crash of Redis can lose the rotated refresh token it holds; run Redis with appendonly yes and appendfsync always`
    }
  }
  if (appendfsync !== 'always') {
    return {
      durable: false,
      known: true,
      message: `Redis fsyncs its append-only file with appendfsync ${appendfsync}, not on every write: a crash of its machine can lose the last second of writes, the last rotated refresh token among them; run Redis with appendfsync always`
    }
  }
  return { durable: true }
}
