import { interpolate } from './interpolation.js';
export const CONFIG_VARIABLE = 'TOKENGATE_CONFIG';
export function addProblem(context, place, message) {
    context.problems.push({ variable: CONFIG_VARIABLE, place, message });
}
/** A YAML mapping or JSON object (a list, a scalar or null is not one). */
export function isMapping(value) {
    return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}
// A key that reads as a word joins its place with a dot; any other is quoted, so the place stays one line.
const PLAIN_KEY = /^[A-Za-z0-9_-]{1,64}$/;
export function placeOf(parent, key) {
    if (!PLAIN_KEY.test(key))
        return `${parent}[${JSON.stringify(key.slice(0, 64))}]`;
    return parent === '' ? key : `${parent}.${key}`;
}
/** Reports each key the mapping should not have: a typo (`tokenURL`) must not pass unnoticed. */
export function checkKeys(mapping, place, known, context) {
    for (const key of Object.keys(mapping)) {
        if (!known.includes(key))
            addProblem(context, placeOf(place, key), `is not a known field (expected one of: ${known.join(', ')})`);
    }
}
/** A field counts as given unless it is missing or empty (`key:` with no value is null in YAML). */
export function isGiven(mapping, key) {
    return mapping[key] !== undefined && mapping[key] !== null;
}
/**
 * A string field, `${VAR}` resolved and trimmed. Undefined when not given or blank; null when
 * given but unusable (the problem is reported).
 */
export function stringField(mapping, key, place, context) {
    if (!isGiven(mapping, key))
        return undefined;
    const value = interpolatedString(mapping[key], placeOf(place, key), context);
    return value === '' ? undefined : value;
}
/** A string value at `place`, `${VAR}` resolved and trimmed; null when it is none (the problem is reported). */
export function interpolatedString(raw, place, context) {
    if (typeof raw !== 'string') {
        addProblem(context, place, 'must be a string');
        return null;
    }
    const result = interpolate(raw, context.variables);
    if ('problems' in result) {
        for (const problem of result.problems)
            addProblem(context, place, problem);
        return null;
    }
    return result.value.trim();
}
/** A string field that must be given: undefined is reported as missing. */
export function requiredString(mapping, key, place, context) {
    const value = stringField(mapping, key, place, context);
    if (value === undefined)
        addProblem(context, placeOf(place, key), 'is required');
    return value ?? null;
}
// A number as a variable would give it (`${ROUTE_TIMEOUT}` is a string once resolved).
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** A number field, from a number or a decimal string; undefined when not given or blank, null when unusable. */
export function numberField(mapping, key, place, context, mustBe) {
    if (!isGiven(mapping, key))
        return undefined;
    const raw = mapping[key];
    let value = Number.NaN;
    if (typeof raw === 'number') {
        value = raw;
    }
    else if (typeof raw === 'string') {
        const text = stringField(mapping, key, place, context);
        if (text === undefined || text === null)
            return text;
        if (DECIMAL.test(text))
            value = Number(text);
    }
    if (!Number.isFinite(value)) {
        addProblem(context, placeOf(place, key), mustBe);
        return null;
    }
    return value;
}
/** One of a few words; undefined when not given, null when unusable. */
export function choiceField(mapping, key, place, choices, context) {
    const value = stringField(mapping, key, place, context);
    if (value === undefined || value === null)
        return value;
    if (choices.includes(value))
        return value;
    addProblem(context, placeOf(place, key), `must be one of: ${choices.join(', ')}`);
    return null;
}
/** Where an http(s) URL field falls short, in the file's words; null when it is fine. */
export function httpUrlProblem(url, options) {
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:'))
        return 'must be an https or http URL';
    if (url.username !== '' || url.password !== '')
        return 'must not carry credentials';
    if (!options.query && url.search !== '')
        return 'must not have a query string';
    return null;
}
/** A required http(s) URL field; null when missing or unusable (reported). */
export function urlField(mapping, key, place, context, options) {
    const text = requiredString(mapping, key, place, context);
    if (text === null)
        return null;
    const url = URL.canParse(text) ? new URL(text) : null;
    const problem = httpUrlProblem(url, options);
    if (problem !== null) {
        addProblem(context, placeOf(place, key), problem);
        return null;
    }
    return url;
}
