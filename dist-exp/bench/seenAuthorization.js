/** Answers /__seen and returns true; false for any other request. */
export function answerSeenAuthorization(req, res) {
    if (req.url !== '/__seen')
        return false;
    const seen = Buffer.from(JSON.stringify({ authorization: req.headers.authorization ?? null }));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(seen.length) }).end(seen);
    return true;
}
