// Which route a request path belongs to: the longest route prefix that matches on '/' boundaries
// (`/chat` matches `/chat` and `/chat/x`, never `/chatty`). The lookup walks the path's own
// prefixes, longest first, through a map: its cost grows with the path's depth, not with the
// number of routes.
export class RouteTable {
    routes;
    byPath = new Map();
    root;
    constructor(routes) {
        this.routes = routes;
        for (const route of routes)
            this.byPath.set(route.path, route);
        this.root = this.byPath.get('/') ?? null;
    }
    /** The route of `path` (the part of the URL before any '?'), or null when none matches. */
    match(path) {
        let end = path.length;
        // A trailing '/' belongs to the prefix before it: '/chat/' is under '/chat'.
        while (end > 1 && path.charCodeAt(end - 1) === 47)
            end--;
        while (end > 0) {
            const route = this.byPath.get(end === path.length ? path : path.slice(0, end));
            if (route !== undefined)
                return route;
            end = path.lastIndexOf('/', end - 1);
        }
        return this.root;
    }
    /**
     * What follows the route's prefix in `path`, always starting with '/' or empty:
     * `/chat/completions` under `/chat` → `/completions`; `/chat` → ''.
     */
    static rest(route, path) {
        return route.path === '/' ? path : path.slice(route.path.length);
    }
}
