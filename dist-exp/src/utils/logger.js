const noop = () => { };
export const silentLogger = { debug: noop, info: noop, warn: noop, error: noop };
