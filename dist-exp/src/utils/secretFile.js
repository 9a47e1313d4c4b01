// A secret kept in a file (a mounted Docker or Kubernetes secret, a private key, a platform-written
// assertion) that may be replaced while the gateway runs: read again whenever the file changed
// since the last read, so a rotated secret is used from the next token request on, without a
// restart. Kubernetes swaps a symlink to rotate a secret; the file is looked at through it, so a
// swap shows as a change.
import { readFileSync, statSync } from 'node:fs';
import { RefreshError } from '../errors.js';
export class SecretFile {
    path;
    field;
    last = null;
    parse;
    /** `field` names the file in errors: `credentials.graph.clientSecretFile`, `OAUTH_PRIVATE_KEY_FILE`. */
    constructor(path, field, parse) {
        this.path = path;
        this.field = field;
        this.parse = parse ?? ((text) => text);
    }
    /**
     * The value, from the trimmed text. Throws a RefreshError naming the field (never the content)
     * when the file cannot be read, is empty or does not parse: the refresh fails, is logged and
     * shows in health. A file that does not parse is read again next time, as it may be mid-write.
     */
    read() {
        let text;
        let stats;
        try {
            stats = statSync(this.path);
            const last = this.last;
            if (last !== null && last.mtimeMs === stats.mtimeMs && last.ctimeMs === stats.ctimeMs && last.size === stats.size && last.ino === stats.ino) {
                return last.value;
            }
            text = readFileSync(this.path, 'utf8').trim();
            if (text === '')
                throw Object.assign(new Error('empty'), { code: 'EMPTY' });
        }
        catch (err) {
            const code = err.code;
            throw new RefreshError({ reason: 'secret_file_unreadable', retryable: false, rejected: false }, `${this.field} (${this.path}) cannot be read (${code})`);
        }
        let value;
        try {
            value = this.parse(text);
        }
        catch (err) {
            throw new RefreshError({ reason: 'secret_file_malformed', retryable: false, rejected: false }, `${this.field} (${this.path}) ${err.message}`);
        }
        this.last = { mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, size: stats.size, ino: stats.ino, value };
        return value;
    }
}
