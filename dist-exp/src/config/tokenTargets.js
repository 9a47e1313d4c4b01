// Where the token is meant to be used, sent with every token request: `audience` (RFC 8693 §2.1,
// a name the provider knows) and `resource` (RFC 8707 §2, an absolute URI without a fragment), each
// possibly several times. Checked alike for OAUTH_AUDIENCE / OAUTH_RESOURCE and a file's fields.
export const RESOURCE_PROBLEM = 'must be absolute URIs without a fragment (RFC 8707)';
/** True when every value is an absolute URI without a fragment. */
export function resourcesValid(values) {
    return values.every((value) => URL.canParse(value) && !value.includes('#'));
}
/** A comma-separated variable as its values, trimmed; null when it lists none. */
export function splitList(text) {
    const values = text.split(',').map((value) => value.trim()).filter((value) => value !== '');
    return values.length === 0 ? null : values;
}
