// Servers under test, each in its own child process: started with a clean environment in an
// empty working folder (no .env is read), stdout to a log file (the way a deployment ships its
// log lines), stderr kept for error messages; stopped by pid.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// dist/bench/ when the bench runs; bench/ when a test imports the source.
const HERE = fileURLToPath(new URL('.', import.meta.url));
export const ROOT = existsSync(join(HERE, '..', 'package.json')) ? join(HERE, '..') : join(HERE, '..', '..');
export const DIST = join(ROOT, 'dist');
export const GATEWAY_ENTRY = join(DIST, 'src', 'server.js');
/** The flags `npm start` gives node before the entry file, so the bench runs the gateway as it does. */
export const GATEWAY_NODE_ARGS = nodeArgsOfStartScript(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start);
export function nodeArgsOfStartScript(script) {
    // `exec` lets the signals of a container runtime reach node itself rather than a shell.
    const words = script.trim().split(/\s+/);
    if (words[0] === 'exec')
        words.shift();
    if (words[0] !== 'node' || words.length < 2)
        throw new Error(`npm start is not "[exec] node [flags] ENTRY": ${script}`);
    return words.slice(1, -1);
}
export function workDir(prefix) {
    return mkdtempSync(join(tmpdir(), `tokengate-bench-${prefix}-`));
}
/** Starts a server and resolves once it listens, or with ExitedEarly when it exits first. */
export async function startServer(options) {
    const dir = workDir(options.name);
    const logFile = join(dir, 'stdout.log');
    const out = openSync(logFile, 'a');
    const child = spawn(options.command, options.args, {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', ...options.env },
        stdio: ['ignore', out, 'pipe']
    });
    closeSync(out);
    let stderr = '';
    child.stderr.on('data', (chunk) => { stderr += chunk.toString('utf8'); });
    let exitCode;
    const exited = new Promise((resolve) => child.on('exit', (code) => { exitCode = code ?? null; resolve(); }));
    const readLog = () => { try {
        return readFileSync(logFile, 'utf8');
    }
    catch {
        return '';
    } };
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    let url;
    while (url === undefined) {
        if (exitCode !== undefined)
            return { exited: true, code: exitCode, stderr, log: readLog() };
        if (Date.now() > deadline) {
            child.kill('SIGKILL');
            throw new Error(`${options.name} did not start in time:\n${stderr}${readLog()}`);
        }
        if (await accepts(options.url))
            url = options.url;
        if (url === undefined)
            await sleep(25);
    }
    const stop = async () => {
        if (exitCode !== undefined)
            return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
    };
    return { name: options.name, url, child, pid: child.pid, logFile, stderr: () => stderr, stop };
}
export function isExited(value) {
    return value.exited === true;
}
/**
 * A Node server (dist/…js) on a port chosen here and passed as PORT: ready once it accepts a
 * connection, whatever its log level lets it print.
 */
export async function startNodeServer(name, entry, env, nodeArgs = []) {
    const port = await freePort();
    return startServer({ name, command: process.execPath, args: [...nodeArgs, entry], env: { ...env, PORT: String(port) }, url: `http://127.0.0.1:${port}` });
}
export async function mustStart(started) {
    if (isExited(started))
        throw new Error(`server exited at start-up (code ${started.code}):\n${started.stderr}${started.log}`);
    return started;
}
async function accepts(url) {
    const { hostname, port } = new URL(url);
    return new Promise((resolve) => {
        const socket = connect(Number(port), hostname);
        socket.once('connect', () => { socket.destroy(); resolve(true); });
        socket.once('error', () => resolve(false));
    });
}
export async function freePort() {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}
/** Where a command is on PATH (`command -v`), or null when it is not installed. */
export function findCommand(name) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    const path = found.stdout.trim();
    return found.status === 0 && path !== '' ? path : null;
}
export function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
/** Resident memory of a process and its children (nginx: master and worker), in bytes. */
export function treeRssBytes(pid) {
    let total = 0;
    try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        total += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
        const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
        for (const child of children === '' ? [] : children.split(/\s+/))
            total += treeRssBytes(Number(child));
    }
    catch {
        // Not Linux, or the process is gone: what was read so far is all there is.
    }
    return total;
}
const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
/** CPU time (user + system) a process and its children have used so far, in seconds. */
export function treeCpuSeconds(pid) {
    let ticks = 0;
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        // Fields after the command name, which is in parentheses and may hold spaces.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]);
        const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
        for (const child of children === '' ? [] : children.split(/\s+/))
            ticks += treeCpuSeconds(Number(child)) * CLOCK_TICKS_PER_SECOND;
    }
    catch {
        // Not Linux, or the process is gone.
    }
    return ticks / CLOCK_TICKS_PER_SECOND;
}
/** Samples the resident memory of some processes and keeps each one's peak. */
export class RssSampler {
    peakBytes = new Map();
    timer = null;
    watch(name, pid, intervalMs = 100) {
        this.stop();
        const sample = () => {
            const rss = treeRssBytes(pid);
            if (rss > (this.peakBytes.get(name) ?? 0))
                this.peakBytes.set(name, rss);
        };
        sample();
        this.timer = setInterval(sample, intervalMs);
    }
    stop() {
        if (this.timer !== null)
            clearInterval(this.timer);
        this.timer = null;
    }
}
