// Reads a configuration or secret file whole, within a bound: a path that names a device, a pipe
// or a runaway file fails at once instead of blocking start-up or filling the memory.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
const CHUNK_BYTES = 64 * 1024;
/** The file's text (UTF-8), or why it could not be had, naming the path and never its content. */
export function readBoundedFile(path, maxBytes) {
    let fd;
    try {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
        fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    }
    catch (err) {
        return { problem: `cannot be read: ${path} (${errorCode(err)})` };
    }
    let result;
    try {
        result = readOpenFile(fd, path, maxBytes);
    }
    catch (err) {
        result = { problem: `cannot be read: ${path} (${errorCode(err)})` };
    }
    closeSync(fd);
    return result;
}
/**
 * A file's trimmed text through `parse` (a key, a certificate, a JWT), or why it cannot be used:
 * unreadable, empty, or what `parse` threw, after the path. Never quotes the content.
 */
export function readParsedFile(path, maxBytes, parse) {
    const read = readBoundedFile(path, maxBytes);
    if ('problem' in read)
        return read;
    const text = read.text.trim();
    if (text === '')
        return { problem: `${path} is empty` };
    try {
        return { value: parse(text) };
    }
    catch (err) {
        return { problem: `${path} ${err.message}` };
    }
}
function readOpenFile(fd, path, maxBytes) {
    if (!fstatSync(fd).isFile())
        return { problem: `cannot be read: ${path} is not a regular file` };
    const chunks = [];
    let total = 0;
    for (;;) {
        const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
        const length = readSync(fd, chunk, 0, CHUNK_BYTES, null);
        if (length === 0)
            break;
        total += length;
        // Stat's size can be stale or zero (procfs): the bound is kept on what is read.
        if (total > maxBytes)
            return { problem: `cannot be read: ${path} is larger than ${maxBytes} bytes` };
        chunks.push(chunk.subarray(0, length));
    }
    return { text: Buffer.concat(chunks, total).toString('utf8') };
}
function errorCode(err) {
    /* c8 ignore next -- the file system's errors all carry a code; the fallback keeps the line readable */
    return err.code ?? 'unknown error';
}
