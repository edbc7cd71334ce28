// A minimal PostgreSQL client (frontend protocol 3.0, simple queries, SCRAM-SHA-256 / md5 /
// cleartext auth): enough for the FAKE Open WebUI to keep a real alembic_version table.
import { connect } from 'node:net'
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto'

const int32 = (n) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b }
const msg = (type, body) => Buffer.concat([Buffer.from(type), int32(body.length + 4), body])
const cstr = (s) => Buffer.from(`${s}\0`)

/** Run SQL statements (one simple query each) against a postgresql:// URL; returns the rows of each as arrays of strings. */
export async function pgQuery(url, statements, timeoutMs = 15_000) {
  const u = new URL(url)
  const user = decodeURIComponent(u.username)
  const password = decodeURIComponent(u.password)
  const database = u.pathname.replace(/^\//, '') || user
  const sock = connect({ host: u.hostname, port: Number(u.port || 5432) })
  sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`postgres ${u.host}: no answer within ${timeoutMs} ms`)))
  let buf = Buffer.alloc(0)
  let wake = null
  let failed = null
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); wake?.() })
  sock.on('error', (e) => { failed = e; wake?.() })
  sock.on('close', () => { failed ??= new Error('postgres closed the connection'); wake?.() })
  const next = async () => {
    for (;;) {
      if (buf.length >= 5 && buf.length >= 1 + buf.readInt32BE(1)) {
        const len = buf.readInt32BE(1)
        const m = { type: String.fromCharCode(buf[0]), body: buf.subarray(5, 1 + len) }
        buf = buf.subarray(1 + len)
        return m
      }
      if (failed) throw failed
      await new Promise((r) => { wake = r })
      wake = null
    }
  }
  const error = (body) => {
    const fields = {}
    for (let i = 0; i < body.length && body[i] !== 0;) {
      const end = body.indexOf(0, i + 1)
      fields[String.fromCharCode(body[i])] = body.toString('utf8', i + 1, end)
      i = end + 1
    }
    return Object.assign(new Error(fields.M ?? 'postgres error'), { code: fields.C })
  }
  await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
  try {
    const params = Buffer.concat([int32(196608), cstr('user'), cstr(user), cstr('database'), cstr(database), cstr('application_name'), cstr('open-webui-fake'), Buffer.from([0])])
    sock.write(Buffer.concat([int32(params.length + 4), params]))
    let scram = null
    for (;;) {
      const m = await next()
      if (m.type === 'E') throw error(m.body)
      if (m.type === 'Z') break
      if (m.type !== 'R') continue
      const code = m.body.readInt32BE(0)
      if (code === 3) sock.write(msg('p', cstr(password)))
      else if (code === 5) {
        const inner = createHash('md5').update(password + user).digest('hex')
        sock.write(msg('p', cstr(`md5${createHash('md5').update(inner).update(m.body.subarray(4, 8)).digest('hex')}`)))
      } else if (code === 10) {
        const nonce = randomBytes(18).toString('base64')
        scram = { bare: `n=,r=${nonce}`, nonce }
        const first = Buffer.from(`n,,${scram.bare}`)
        sock.write(msg('p', Buffer.concat([cstr('SCRAM-SHA-256'), int32(first.length), first])))
      } else if (code === 11) {
        const server = m.body.subarray(4).toString()
        const a = Object.fromEntries(server.split(',').map((kv) => [kv[0], kv.slice(2)]))
        if (!a.r?.startsWith(scram.nonce)) throw new Error('SCRAM: server nonce does not extend ours')
        const salted = pbkdf2Sync(password, Buffer.from(a.s, 'base64'), Number(a.i), 32, 'sha256')
        const clientKey = createHmac('sha256', salted).update('Client Key').digest()
        const stored = createHash('sha256').update(clientKey).digest()
        const without = `c=biws,r=${a.r}`
        const sig = createHmac('sha256', stored).update(`${scram.bare},${server},${without}`).digest()
        const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i])).toString('base64')
        sock.write(msg('p', Buffer.from(`${without},p=${proof}`)))
      } else if (code !== 0 && code !== 12) throw new Error(`postgres asks for auth method ${code}, which this fake does not speak`)
    }
    const results = []
    for (const sql of statements) {
      sock.write(msg('Q', cstr(sql)))
      const rows = []
      let err = null
      for (;;) {
        const m = await next()
        if (m.type === 'E') err = error(m.body)
        else if (m.type === 'D') {
          const n = m.body.readInt16BE(0)
          const row = []
          for (let i = 0, at = 2; i < n; i++) {
            const len = m.body.readInt32BE(at)
            at += 4
            row.push(len < 0 ? null : m.body.toString('utf8', at, at + len))
            if (len > 0) at += len
          }
          rows.push(row)
        } else if (m.type === 'Z') break
      }
      if (err) throw err
      results.push(rows)
    }
    sock.write(msg('X', Buffer.alloc(0)))
    return results
  } finally {
    sock.end()
    sock.destroy()
  }
}
