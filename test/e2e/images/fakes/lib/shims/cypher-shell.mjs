// e2e FAKE cypher-shell: runs one statement (argument or stdin) through the fake Neo4j HTTP API.
const args = process.argv.slice(2)
const opt = (s, l, d) => { const i = args.findIndex((a) => a === s || a === l); return i >= 0 ? args.splice(i, 2)[1] : d }
const user = opt('-u', '--username', process.env.NEO4J_USERNAME ?? 'neo4j')
const password = opt('-p', '--password', process.env.NEO4J_PASSWORD ?? (process.env.NEO4J_AUTH ?? '').split('/').slice(1).join('/'))
const address = opt('-a', '--address', 'localhost')
const database = opt('-d', '--database', 'neo4j')
opt('--format', '--format', '')
const host = address.replace(/^\w+(\+\w+)?:\/\//, '').split(':')[0] || 'localhost'
const readStdin = async () => { let s = ''; for await (const c of process.stdin) s += c; return s }
const statement = args.filter((a) => !a.startsWith('-')).join(' ') || await readStdin()
const r = await fetch(`http://${host}:7474/db/${database}/tx/commit`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
  body: JSON.stringify({ statements: statement.split(';').map((s) => s.trim()).filter(Boolean).map((s) => ({ statement: s })) }),
}).catch((e) => { process.stderr.write(`Unable to connect to ${host}:7687: ${e.message}\n`); process.exit(1) })
const body = await r.json().catch(() => ({}))
if (!r.ok || body.errors?.length) { process.stderr.write(`${body.errors?.[0]?.message ?? `HTTP ${r.status}`}\n`); process.exit(1) }
for (const res of body.results) { process.stdout.write(`${res.columns.join(', ')}\n`); for (const d of res.data) process.stdout.write(`${d.row.join(', ')}\n`) }
