export async function redisDurability(client) {
    let settings;
    try {
        const flat = await client.config('GET', 'append*');
        settings = new Map(flat.flatMap((value, i) => i % 2 === 0 ? [[value, flat[i + 1]]] : []));
    }
    catch (err) {
        return {
            durable: false,
            known: false,
            message: `could not read Redis's persistence settings (CONFIG GET: ${err.message}); make sure Redis runs with appendonly yes and appendfsync always, or a crash of its machine can lose the last rotated refresh token`
        };
    }
    // String(): a setting missing from the answer (no Redis does that) reads as "undefined".
    const appendonly = String(settings.get('appendonly'));
    const appendfsync = String(settings.get('appendfsync'));
    if (appendonly !== 'yes') {
        return {
            durable: false,
            known: true,
            message: `Redis runs without its append-only file (appendonly ${appendonly}): a restart or crash of Redis can lose the rotated refresh token it holds; run Redis with appendonly yes and appendfsync always`
        };
    }
    if (appendfsync !== 'always') {
        return {
            durable: false,
            known: true,
            message: `Redis fsyncs its append-only file with appendfsync ${appendfsync}, not on every write: a crash of its machine can lose the last second of writes, the last rotated refresh token among them; run Redis with appendfsync always`
        };
    }
    return { durable: true };
}
