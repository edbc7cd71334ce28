// A DNS server on 127.0.0.1 (UDP) answering A queries from a map the test changes, as Docker's
// embedded DNS answers for containers that come and go. Unknown names: NXDOMAIN.
import { createSocket, type Socket } from 'node:dgram'

export interface Dns {
  port: number
  /** name -> IPv4 address; change it to "re-create a container" under another address. */
  records: Map<string, string>
  queries: string[]
  close(): Promise<void>
}

function questionName(msg: Buffer): { name: string; end: number } {
  const labels: string[] = []
  let i = 12
  while (msg[i]! > 0) { labels.push(msg.subarray(i + 1, i + 1 + msg[i]!).toString('ascii')); i += msg[i]! + 1 }
  return { name: labels.join('.').toLowerCase(), end: i + 5 }
}

export async function startDns(): Promise<Dns> {
  const records = new Map<string, string>()
  const queries: string[] = []
  const sock: Socket = createSocket('udp4')
  sock.on('message', (msg, from) => {
    const { name, end } = questionName(msg)
    const qtype = msg.readUInt16BE(end - 4)
    queries.push(name)
    const ip = qtype === 1 ? records.get(name) : undefined
    const header = Buffer.from(msg.subarray(0, 12))
    header.writeUInt16BE(0x8180 | (ip || qtype !== 1 ? 0 : 3), 2) // response, recursion available; NXDOMAIN when unknown
    header.writeUInt16BE(1, 4)
    header.writeUInt16BE(ip ? 1 : 0, 6)
    header.writeUInt32BE(0, 8)
    const question = msg.subarray(12, end)
    const answer = ip ? Buffer.concat([Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4]), Buffer.from(ip.split('.').map(Number))]) : Buffer.alloc(0)
    sock.send(Buffer.concat([header, question, answer]), from.port, from.address)
  })
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve))
  return { port: sock.address().port, records, queries, close: () => new Promise((resolve) => sock.close(() => resolve())) }
}
