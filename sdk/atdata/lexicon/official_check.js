// Runs the official @atproto/lexicon validator over lexicon documents and example values.
// Input (stdin, JSON): {"docs": [lexicon documents], "cases": [{"kind": "record"|"params"|"output",
// "nsid": "...", "value": ...}]}. Output (stdout, JSON): {"docErrors": [...], "refErrors": [...],
// "results": [{"ok": bool, "error": string|null}]} with one result per case, in order.
import { Lexicons, jsonToLex, parseLexiconDoc } from '@atproto/lexicon'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const docErrors = []
for (const doc of input.docs) {
  try {
    parseLexiconDoc(structuredClone(doc))
  } catch (e) {
    docErrors.push(`${doc.id}: ${e.message}`)
  }
}

// Lexicons.add rewrites refs to absolute lex: URIs in place, so walk the documents afterwards.
const lex = new Lexicons(input.docs)
const refErrors = []
const walk = (node, where) => {
  if (Array.isArray(node)) {
    node.forEach((item, i) => walk(item, `${where}/${i}`))
    return
  }
  if (node === null || typeof node !== 'object') return
  const refs = node.type === 'ref' ? [node.ref] : node.type === 'union' ? node.refs : []
  for (const ref of refs) {
    try {
      lex.getDefOrThrow(ref)
    } catch (e) {
      refErrors.push(`${where}: ${e.message}`)
    }
  }
  for (const [key, value] of Object.entries(node)) walk(value, `${where}/${key}`)
}
for (const doc of lex) walk(doc, doc.id)

const check = {
  record: (nsid, value) => lex.assertValidRecord(nsid, value),
  params: (nsid, value) => lex.assertValidXrpcParams(nsid, value),
  output: (nsid, value) => lex.assertValidXrpcOutput(nsid, value),
}
const results = input.cases.map(({ kind, nsid, value }) => {
  try {
    check[kind](nsid, jsonToLex(value))
    return { ok: true, error: null }
  } catch (e) {
    return { ok: false, error: e.message }
  }
})
process.stdout.write(JSON.stringify({ docErrors, refErrors, results }))
