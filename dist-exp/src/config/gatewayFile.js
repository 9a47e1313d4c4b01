// TOKENGATE_CONFIG's file, from text to a checked GatewayDefinition: YAML or JSON (one parser,
// JSON being YAML 1.2), `credentials` and `routes`, every problem reported at once by its place.
// Neither the file's text nor a secret ever reaches a message.
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { readBoundedFile } from './boundedFile.js';
import { parseCredential } from './fileCredential.js';
import { CONFIG_VARIABLE, addProblem, checkKeys, isMapping } from './fileFields.js';
import { parseRoutes } from './fileRoute.js';
/** The largest configuration file read: a few hundred routes fit in a tenth of it. */
export const CONFIG_FILE_MAX_BYTES = 1024 * 1024;
const TOP_LEVEL_FIELDS = ['credentials', 'routes'];
/** Reads and checks the file at `path`; throws ConfigError listing every problem. */
export function loadGatewayFile(path, variables, defaults) {
    const file = resolve(path);
    const read = readBoundedFile(file, CONFIG_FILE_MAX_BYTES);
    if ('problem' in read)
        throw new ConfigError([{ variable: CONFIG_VARIABLE, message: read.problem }]);
    return parseGatewayFile(read.text, file, variables, defaults);
}
/** Checks the text of the file at `path` (named in problems; `*File` paths are relative to its folder). */
export function parseGatewayFile(text, path, variables, defaults) {
    const file = resolve(path);
    const root = parseYaml(text, file);
    const context = { variables, directory: dirname(file), defaults, problems: [] };
    if (!isMapping(root))
        throw fileProblem(file, 'must be a mapping with credentials and routes');
    checkKeys(root, '', TOP_LEVEL_FIELDS, context);
    const credentials = [];
    const names = new Set();
    if (!isMapping(root.credentials)) {
        addProblem(context, 'credentials', root.credentials === undefined || root.credentials === null
            ? 'is required: a mapping of names to credentials'
            : 'must be a mapping of names to credentials');
    }
    else {
        for (const [name, raw] of Object.entries(root.credentials)) {
            // A route naming a credential that has a problem is not told it is unknown as well.
            names.add(name);
            const credential = parseCredential(name, raw, context);
            if (credential !== null)
                credentials.push(credential);
        }
    }
    const routes = parseRoutes(root.routes, names, context);
    if (context.problems.length > 0)
        throw new ConfigError(context.problems);
    return { file, credentials, routes };
}
/** The document as plain values; a syntax error is one problem naming the file and line, never the text. */
function parseYaml(text, file) {
    // uniqueKeys (the default) makes a repeated key an error: YAML would keep the last one silently.
    // logLevel 'error': yaml's warnings go to process.emitWarning, on stderr, quoting the file's text.
    const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
    const [error] = document.errors;
    if (error !== undefined) {
        const position = error.linePos?.[0];
        /* c8 ignore next -- prettyErrors gives every parse error its position; a file name alone would still do */
        const where = position === undefined ? file : `${file}:${position.line}:${position.col}`;
        // The code, not yaml's message: some messages quote the text at fault.
        throw fileProblem(where, `invalid YAML (${error.code.toLowerCase().replaceAll('_', ' ')})`);
    }
    try {
        // maxAliasCount bounds what aliases can expand to ("billion laughs").
        return document.toJS({ maxAliasCount: 100 });
    }
    catch {
        throw fileProblem(file, 'invalid YAML (an alias is undefined or expands too far)');
    }
}
function fileProblem(place, message) {
    return new ConfigError([{ variable: CONFIG_VARIABLE, place, message }]);
}
