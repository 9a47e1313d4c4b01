// The subject token of a token exchange (RFC 8693): the file the platform writes it to and its
// type, checked alike for OAUTH_SUBJECT_TOKEN_FILE / OAUTH_SUBJECT_TOKEN_TYPE and a credential's
// subjectTokenFile / subjectTokenType. The file is read once here, so a wrong one stops the start.
import { resolve } from 'node:path';
import { JWT_TOKEN_TYPE, subjectTokenParser } from '../grants/tokenExchangeGrant.js';
import { readParsedFile } from './boundedFile.js';
/** The most read from a subject token file (a projected service-account token is about 1 KiB). */
const SUBJECT_TOKEN_FILE_MAX_BYTES = 64 * 1024;
/** The subject token's settings; null when the grant is another or a problem was reported. */
export function resolveSubjectToken(input, context) {
    const { names, report } = context;
    if (!input.tokenExchange) {
        for (const key of ['subjectTokenFile', 'subjectTokenType']) {
            const given = key === 'subjectTokenFile' ? input.file : input.type;
            if (given !== undefined)
                report(key, `is used only with ${names.grant} token_exchange`);
        }
        return null;
    }
    const type = input.type ?? JWT_TOKEN_TYPE;
    // RFC 8693 §3: a token type is a URI (urn:ietf:params:oauth:token-type:…, or one of the provider's).
    const typeValid = URL.canParse(type);
    if (!typeValid)
        report('subjectTokenType', 'must be a token type URI (RFC 8693 §3), e.g. urn:ietf:params:oauth:token-type:jwt');
    if (input.file === undefined) {
        report('subjectTokenFile', `is required when ${names.grant} is token_exchange (the file the platform writes the token to)`);
        return null;
    }
    const path = resolve(context.directory, input.file);
    const problem = subjectFileProblem(path, type, names.subjectTokenType);
    if (problem !== null)
        report('subjectTokenFile', problem);
    return problem === null && typeValid ? { path, field: context.field, type } : null;
}
function subjectFileProblem(path, type, typeName) {
    const parse = subjectTokenParser(type);
    const read = readParsedFile(path, SUBJECT_TOKEN_FILE_MAX_BYTES, (text) => {
        try {
            return parse(text);
        }
        catch (err) {
            throw new Error(`${err.message}, as ${typeName} ${JWT_TOKEN_TYPE} requires`);
        }
    });
    return 'problem' in read ? read.problem : null;
}
