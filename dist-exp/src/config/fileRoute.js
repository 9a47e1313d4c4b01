// The routes of TOKENGATE_CONFIG's file: a path prefix, the upstream it leads to, the credential
// that signs its requests and an optional timeout. Paths are normalised here, once, so the
// router compares them as they are.
import { normalisedPath } from '../utils/gatewayPaths.js';
import { MAX_TIMER_MS } from './schema.js';
import { addProblem, checkKeys, isMapping, numberField, placeOf, requiredString, stringField, urlField } from './fileFields.js';
import { CREDENTIAL_NAME } from './gatewayDefinition.js';
import { CERTIFICATE_NEEDS_TLS, checkClientCertificate } from './clientCertificateConfig.js';
const ROUTE_FIELDS = ['path', 'upstream', 'credential', 'timeout', 'clientCertFile', 'clientKeyFile'];
// RFC 3986 pchar: unreserved, sub-delims, ':' and '@', or a %XX escape.
const SEGMENT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+$/;
// '.' and '..', also spelt with %2e: a client's path is resolved before it is matched.
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
/**
 * The path as routes are matched (`/chat/` → `/chat`; `/` stays), or why it cannot be one. A
 * prefix with a query, '..' or '//' could never match, or match what it does not look like.
 */
export function normaliseRoutePath(text) {
    if (!text.startsWith('/'))
        return { problem: 'must start with \'/\'' };
    if (/[?#]/.test(text))
        return { problem: 'must not have a query string or a fragment' };
    if (text === '/')
        return { path: text };
    const path = text.endsWith('/') ? text.slice(0, -1) : text;
    const segments = path.slice(1).split('/');
    if (segments.some((segment) => segment === '' || DOT_SEGMENT.test(segment))) {
        return { problem: 'must not have empty, \'.\' or \'..\' segments' };
    }
    if (!segments.every((segment) => SEGMENT.test(segment))) {
        return { problem: 'must be a URL path: letters, digits, -._~!$&\'()*+,;=:@ and %XX escapes between the slashes' };
    }
    // The gateway's own routes come first: a route there would never see a request.
    const own = normalisedPath(path);
    if (own === '/admin' || own.startsWith('/admin/') || own === '/health/token' || own.startsWith('/health/token/') ||
        own === '/health/live' || own === '/metrics') {
        return { problem: 'must not be one of the gateway\'s own paths (/admin and under it, /health/token, /health/live, /metrics): they are never proxied' };
    }
    return { path };
}
/** The routes, in the file's order; every problem of every route is reported. */
export function parseRoutes(raw, credentialNames, context) {
    if (raw === undefined || raw === null) {
        addProblem(context, 'routes', 'is required: a list of routes (path, upstream, credential)');
        return [];
    }
    if (!Array.isArray(raw)) {
        addProblem(context, 'routes', 'must be a list of routes (path, upstream, credential)');
        return [];
    }
    if (raw.length === 0)
        addProblem(context, 'routes', 'must hold at least one route');
    const routes = [];
    const placeOfPath = new Map();
    raw.forEach((entry, index) => {
        const place = `routes[${index}]`;
        const { route, path } = parseRoute(entry, place, credentialNames, context);
        // Checked even when the route has other problems: each one is reported in the same run.
        const first = path === null ? undefined : placeOfPath.get(path);
        if (first !== undefined) {
            addProblem(context, `${place}.path`, `is the same as ${first} ("${path}"): one route per path`);
            return;
        }
        if (path !== null)
            placeOfPath.set(path, `${place}.path`);
        if (route !== null)
            routes.push(route);
    });
    return routes;
}
/** The route, null when it has a problem; its normalised path whenever it has one. */
function parseRoute(raw, place, credentialNames, context) {
    if (!isMapping(raw)) {
        addProblem(context, place, 'must be a mapping with path, upstream and credential');
        return { route: null, path: null };
    }
    const before = context.problems.length;
    checkKeys(raw, place, ROUTE_FIELDS, context);
    const pathText = requiredString(raw, 'path', place, context);
    const normalised = pathText === null ? null : normaliseRoutePath(pathText);
    if (normalised !== null && 'problem' in normalised)
        addProblem(context, placeOf(place, 'path'), normalised.problem);
    const path = normalised !== null && 'path' in normalised ? normalised.path : null;
    const upstream = urlField(raw, 'upstream', place, context, { query: false });
    const credential = requiredString(raw, 'credential', place, context);
    if (credential !== null && !credentialNames.has(credential)) {
        // A name is quoted only when it could be one: a token pasted here by mistake stays unprinted.
        addProblem(context, placeOf(place, 'credential'), CREDENTIAL_NAME.test(credential)
            ? `unknown credential "${credential}"`
            : 'must name a credential: lower-case letters, digits and \'-\', 1 to 40 characters');
    }
    const mustBe = `must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}`;
    const timeout = numberField(raw, 'timeout', place, context, mustBe);
    if (typeof timeout === 'number' && (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_TIMER_MS)) {
        addProblem(context, placeOf(place, 'timeout'), mustBe);
    }
    const clientCertificate = routeClientCertificate(raw, place, context);
    if (clientCertificate !== null && upstream !== null && upstream.protocol !== 'https:') {
        addProblem(context, placeOf(place, 'upstream'), `must be an https URL when clientCertFile is set (${CERTIFICATE_NEEDS_TLS})`);
    }
    if (context.problems.length > before)
        return { route: null, path };
    return {
        route: {
            path: path,
            upstream: upstream,
            credential: credential,
            timeoutMs: timeout ?? context.defaults.timeoutMs,
            ...(clientCertificate === null ? {} : { clientCertificate })
        },
        path
    };
}
/** clientCertFile and clientKeyFile, both or neither: the certificate the route presents to its upstream (mutual TLS). */
function routeClientCertificate(raw, place, context) {
    const certFile = stringField(raw, 'clientCertFile', place, context);
    const keyFile = stringField(raw, 'clientKeyFile', place, context);
    if (certFile === undefined && keyFile === undefined)
        return null;
    if (certFile === undefined || keyFile === undefined) {
        const [missing, given] = certFile === undefined ? ['clientCertFile', 'clientKeyFile'] : ['clientKeyFile', 'clientCertFile'];
        addProblem(context, placeOf(place, missing), `is required when ${given} is set (a client certificate needs both files)`);
        return null;
    }
    if (certFile === null || keyFile === null)
        return null;
    const certField = placeOf(place, 'clientCertFile');
    const keyField = placeOf(place, 'clientKeyFile');
    const paths = checkClientCertificate({ certFile, keyFile, directory: context.directory, certName: certField }, (file, message) => {
        addProblem(context, file === 'cert' ? certField : keyField, message);
    });
    return paths === null ? null : { ...paths, certField, keyField };
}
