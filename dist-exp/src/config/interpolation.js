// `${VAR}` in the strings of TOKENGATE_CONFIG's file, read from the environment (process.env and
// .env), so the file can be committed while its secrets stay in the environment.
// A name as a shell would take it; anything else after `${` is a mistake, not a literal.
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const OPENING = '${';
/**
 * The text with every `${VAR}` replaced by its value, or the problems that prevent it (each a
 * message naming the variable, never the text or a value). A `$` not followed by `{` stays.
 */
export function interpolate(text, variables) {
    const problems = new Set();
    const value = text.replace(REFERENCE, (reference, name) => {
        const replacement = variables[name];
        if (replacement !== undefined)
            return replacement;
        problems.add(`\${${name}} is not set`);
        return reference;
    });
    // Whatever `${` is left did not open a well-formed reference (the values put in are not looked at).
    if (text.replace(REFERENCE, '').includes(OPENING)) {
        // eslint-disable-next-line no-template-curly-in-string -- the message shows the file's syntax
        problems.add('has a "${" that does not open a reference: write ${NAME}, a name of letters, digits and "_"');
    }
    return problems.size > 0 ? { problems: [...problems] } : { value };
}
