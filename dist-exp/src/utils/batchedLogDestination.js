// Where `npm start` writes its log lines. Every line is written synchronously, so lines are never
// reordered and nothing is left in a write of its own in flight at exit (pino's asynchronous
// writer can leave one). But not one write per line: the lines of one event-loop turn go out in
// one write at the end of that turn (setImmediate). Under load a turn serves many requests, and
// one system call a line was the gateway's largest single cost per request after the sockets.
// At exit (process.exit, the end of the loop, an uncaught error) what is held is written first.
import { writeSync } from 'node:fs';
// Past this many bytes held, the batch is written at once instead of at the end of the turn.
export const MAX_BATCH_BYTES = 64 * 1024;
const EAGAIN_PAUSE_MS = 1;
export function createBatchedLogDestination(fd, options = {}) {
    const write = options.writeSync ?? ((target, buffer, offset) => writeSync(target, buffer, offset));
    let held = [];
    let heldBytes = 0;
    let scheduled = false;
    const flushSync = () => {
        if (held.length === 0)
            return;
        const data = Buffer.from(held.length === 1 ? held[0] : held.join(''));
        held = [];
        heldBytes = 0;
        writeAll(fd, data, write);
    };
    const endOfTurn = () => {
        scheduled = false;
        flushSync();
    };
    process.on('exit', flushSync);
    return {
        write(line) {
            held.push(line);
            heldBytes += line.length;
            if (heldBytes >= MAX_BATCH_BYTES) {
                flushSync();
            }
            else if (!scheduled) {
                scheduled = true;
                setImmediate(endOfTurn);
            }
        },
        flushSync
    };
}
const pause = new Int32Array(new SharedArrayBuffer(4));
function writeAll(fd, data, write) {
    let offset = 0;
    while (offset < data.length) {
        try {
            offset += write(fd, data, offset);
        }
        catch (err) {
            // A non-blocking pipe that is full (a slow log collector): wait for it, as pino does.
            if (err.code === 'EAGAIN') {
                Atomics.wait(pause, 0, 0, EAGAIN_PAUSE_MS);
                continue;
            }
            // A closed pipe (EPIPE), a full disk: the lines are dropped. The gateway keeps serving; a
            // log failure must not become a failed request or a crash.
            return;
        }
    }
}
