// What the token file holds, in either of its two formats: a gateway with one credential keeps a
// single record (the format every earlier version wrote); a gateway configured by a file keeps
// `{"credentials": {"<name>": <record>, …}}`. Entries are kept as the JSON text the file holds, so
// rewriting one credential's entry hands every other entry back unchanged, damaged ones included.
import { DEFAULT_CREDENTIAL } from '../config/gatewayDefinition.js';
/**
 * The content of a token file's text, or null when the text is not JSON. JSON without a
 * `credentials` object is a single record (valid or not): the `default` entry.
 */
export function parseTokenFile(text) {
    let value;
    try {
        value = JSON.parse(text);
    }
    catch {
        return null;
    }
    if (isObject(value) && isObject(value.credentials)) {
        // The text is valid JSON from here on, so the scanner need not check it.
        const top = new Map(members(text, skipSpace(text, 0)));
        return { format: 'credentials', entries: new Map(members(top.get('credentials'), 0)) };
    }
    return { format: 'record', entries: new Map([[DEFAULT_CREDENTIAL, nested(text.trim())]]) };
}
/** The file's text; the `record` format holds `default`'s entry alone. */
export function formatTokenFile(content) {
    if (content.format === 'record')
        return `${content.entries.get(DEFAULT_CREDENTIAL).replaceAll(`\n${INDENT}`, '\n')}\n`;
    const entries = [...content.entries].map(([name, entry]) => `${INDENT}${JSON.stringify(name)}: ${entry}`);
    return `{\n  "credentials": {\n${entries.join(',\n')}\n  }\n}\n`;
}
/** A record as an entry; throws what JSON.stringify throws. */
export function recordEntry(record) {
    return nested(JSON.stringify(record, null, 2));
}
// An entry's depth in `{"credentials": {…}}`. Raw line breaks in JSON text are whitespace (a
// string holds them escaped), so adding and removing the indentation after each is exact.
const INDENT = '    ';
function nested(json) {
    return json.replaceAll('\n', `\n${INDENT}`);
}
function isObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
// The members of the JSON object starting at `start`, each value as its text. A key given twice
// keeps its last value, as JSON.parse does (the Map the caller builds sees to that).
function members(text, start) {
    const found = [];
    let at = skipSpace(text, start + 1);
    while (text[at] === '"') {
        const keyEnd = skipString(text, at);
        const key = JSON.parse(text.slice(at, keyEnd));
        const valueStart = skipSpace(text, skipSpace(text, keyEnd) + 1);
        const valueEnd = skipValue(text, valueStart);
        found.push([key, text.slice(valueStart, valueEnd)]);
        at = skipSpace(text, valueEnd);
        if (text[at] === ',')
            at = skipSpace(text, at + 1);
    }
    return found;
}
function skipValue(text, at) {
    if (text[at] === '"')
        return skipString(text, at);
    if (text[at] === '{' || text[at] === '[') {
        let depth = 0;
        do {
            if (text[at] === '"') {
                at = skipString(text, at);
                continue;
            }
            if (text[at] === '{' || text[at] === '[')
                depth++;
            else if (text[at] === '}' || text[at] === ']')
                depth--;
            at++;
        } while (depth > 0);
        return at;
    }
    // A number, true, false or null.
    while (at < text.length && !',}] \t\n\r'.includes(text[at]))
        at++;
    return at;
}
function skipString(text, at) {
    at++;
    while (text[at] !== '"')
        at += text[at] === '\\' ? 2 : 1;
    return at + 1;
}
function skipSpace(text, at) {
    while (' \t\n\r'.includes(text[at]))
        at++;
    return at;
}
