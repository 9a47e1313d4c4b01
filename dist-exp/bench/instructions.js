// Instructions per request under valgrind's callgrind: a count, not a time, so it does not move
// with what else the machine is doing, which requests/s and CPU time on a shared 2-core machine
// do by 5 to 10% from round to round. It counts user-space instructions of every thread of the
// process (JavaScript, V8's garbage collector, libuv's pool), not the kernel's work in system
// calls: read it next to the CPU time per request, not instead of it.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import autocannon from 'autocannon';
import { findCommand, freePort, mustStart, startServer } from './processes.js';
export function findCallgrind() {
    return findCommand('valgrind') !== null && findCommand('callgrind_control') !== null;
}
/** Instructions executed per request while `requests` requests are served. */
export async function measureInstructions(options) {
    const port = await freePort();
    const server = await mustStart(await startServer({
        name: `callgrind-${options.name}`,
        command: 'valgrind',
        // Counting is switched on only for the measured requests; V8 writes machine code as it runs,
        // which valgrind must be told to watch for.
        args: ['--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', '--dump-instr=no',
            '--callgrind-out-file=callgrind.out', process.execPath, ...options.nodeArgs, options.entry],
        env: { ...options.env, PORT: String(port) },
        url: `http://127.0.0.1:${port}`,
        timeoutMs: 180_000
    }));
    try {
        const url = `${server.url}${options.path}`;
        await requests(url, options.warmupRequests, options.connections);
        control(server.pid, '--instr=on', options.env);
        control(server.pid, '--zero', options.env);
        await requests(url, options.requests, options.connections);
        control(server.pid, '--dump', options.env);
        return await dumpedInstructions(dirname(server.logFile), url) / options.requests;
    }
    finally {
        await server.stop();
        rmSync(dirname(server.logFile), { recursive: true, force: true });
    }
}
async function requests(url, amount, connections) {
    const result = await autocannon({ url, connections, amount, timeout: 60 });
    if (result.non2xx > 0 || result.errors > 0)
        throw new Error(`callgrind run: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
}
function control(pid, command, serverEnv) {
    // vgdb finds the process by files named after $USER and $HOST as the process saw them, and the
    // gateway has a HOST variable of its own: give callgrind_control the same ones.
    const env = { ...process.env };
    for (const name of ['USER', 'HOST']) {
        if (serverEnv[name] === undefined)
            delete env[name];
        else
            env[name] = serverEnv[name];
    }
    const run = spawnSync('callgrind_control', [command, String(pid)], { encoding: 'utf8', env });
    // It exits 0 even when it could not reach the process; the reason is on stderr.
    if (run.status !== 0 || /error/i.test(run.stderr))
        throw new Error(`callgrind_control ${command} ${pid} failed: ${run.stderr}${run.stdout}`);
}
/** The instruction total of the dump callgrind_control asked for (not the one written at exit). */
async function dumpedInstructions(folder, url) {
    // The process reads callgrind's commands only while it runs code; an idle server is woken by a
    // request (counted after the dump, not in it).
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
        await fetch(url).then(async (res) => { await res.arrayBuffer(); }, () => { });
        for (const name of readdirSync(folder).filter((file) => file.startsWith('callgrind.out'))) {
            const text = readFileSync(join(folder, name), 'utf8');
            const summary = /^desc: Trigger: dump[^]*?^summary: (\d+)$/m.exec(text);
            if (summary !== null)
                return Number(summary[1]);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`no callgrind dump in ${folder}`);
}
