// The token file's two formats as text: which one a text is, each entry's text exactly as the file
// holds it, and the text written back.
import t from 'tap'
import { formatTokenFile, parseTokenFile, recordEntry } from '../../src/stores/tokenFileFormat.js'
import { record } from '../helpers/stores.js'

const single = (version: number): string => `${JSON.stringify(record(version), null, 2)}\n`

t.test('not JSON: null', async (t) => {
  for (const text of ['', '{"credentials": {', 'at_1', '\uFEFF{}']) t.equal(parseTokenFile(text), null, JSON.stringify(text))
})

t.test('a single record is the `default` entry; written alone it is the text earlier versions wrote', async (t) => {
  const content = parseTokenFile(single(1))!
  t.equal(content.format, 'record')
  t.same([...content.entries.keys()], ['default'])
  t.same(JSON.parse(content.entries.get('default')!), record(1))
  t.equal(formatTokenFile(content), single(1), 'the same text back')
  t.equal(formatTokenFile({ format: 'record', entries: new Map([['default', recordEntry(record(2))]]) }), single(2), 'a new record: JSON.stringify(record, null, 2) and a newline')
})

t.test('JSON without a credentials object is a single record too, valid or not', async (t) => {
  for (const text of ['null', '[]', '"at_1"', '{}', '{"credentials": []}', '{"credentials": null}', '{"credentials": "x"}', '{"accessToken": ""}']) {
    const content = parseTokenFile(text)!
    t.equal(content.format, 'record', text)
    t.same([...content.entries], [['default', text]], `${text}: the whole text is the entry`)
  }
})

t.test('the credentials format: each entry as the file holds it, JSON-wise and byte-wise', async (t) => {
  const text = `{ "credentials" : {"chat":{"accessToken":"a{b}\\"c[","version":1e400},
  "graph" :   [1, {"x": "]"}, true, null, -0.5e-3] ,"odd-one":"not a record","z":12345678901234567890,
    "default": {
      "nested": { "deep": [ "\\\\" ] }
    }
  }, "later": 1 }`
  const content = parseTokenFile(text)!
  t.equal(content.format, 'credentials')
  t.same([...content.entries], [
    ['chat', '{"accessToken":"a{b}\\"c[","version":1e400}'],
    ['graph', '[1, {"x": "]"}, true, null, -0.5e-3]'],
    ['odd-one', '"not a record"'],
    ['z', '12345678901234567890'],
    ['default', '{\n      "nested": { "deep": [ "\\\\" ] }\n    }']
  ], 'the text of each, numbers beyond a double included')
  t.equal(formatTokenFile(content), `{
  "credentials": {
    "chat": {"accessToken":"a{b}\\"c[","version":1e400},
    "graph": [1, {"x": "]"}, true, null, -0.5e-3],
    "odd-one": "not a record",
    "z": 12345678901234567890,
    "default": {
      "nested": { "deep": [ "\\\\" ] }
    }
  }
}
`, 'written back entry by entry, in order')
  t.same(parseTokenFile(formatTokenFile(content)), content, 'and read again the same')
})

t.test('a key given twice keeps its last value, as JSON.parse does', async (t) => {
  const content = parseTokenFile('{"credentials": {"a": 1, "b": 2, "a": 3}, "credentials": {"a": 4, "a": 5}}')!
  t.same([...content.entries], [['a', '5']])
  t.same(parseTokenFile('{"credentials": {"a": 1}, "credentials": 7}')!.format, 'record', 'the last credentials is not an object')
  t.same([...parseTokenFile('{"credentials": {}}')!.entries], [], 'an empty object: no entry')
})

t.test('records as entries: indented to their depth; a single record keeps its value when it moves into the credentials format', async (t) => {
  const entry = recordEntry(record(3))
  t.equal(entry, JSON.stringify(record(3), null, 2).replaceAll('\n', '\n    '))
  const legacy = parseTokenFile(`\r\n  ${JSON.stringify(record(1), null, 2).replaceAll('\n', '\r\n')}\r\n`)!
  t.equal(formatTokenFile(legacy), `${JSON.stringify(record(1), null, 2).replaceAll('\n', '\r\n')}\n`, 'written alone: its own line breaks, trimmed')
  legacy.entries.set('chat', entry)
  const text = formatTokenFile({ format: 'credentials', entries: legacy.entries })
  t.same(JSON.parse(text), { credentials: { default: record(1), chat: record(3) } })
  t.equal(formatTokenFile({ format: 'credentials', entries: new Map([['chat', entry], ['graph', recordEntry(record(4))]]) }),
    `${JSON.stringify({ credentials: { chat: record(3), graph: record(4) } }, null, 2)}\n`, 'records alone: what JSON.stringify(…, null, 2) writes')
  t.throws(() => recordEntry({ version: 1n }), TypeError, 'what cannot be serialised throws')
})
