// What a tar archive holds, read from its headers (ustar, GNU long names, pax): regular files and
// their bytes, without extracting and without trusting a tool's locale-dependent listing. A
// truncated or corrupt archive throws: this is the file stores' verification.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { KitError } from '../core/errors.ts'

export interface TarStats {
  /** Regular files (hard links count once, as the data they point at is stored once). */
  files: number
  /** Bytes of the regular files' content. */
  bytes: number
  dirs: number
  /** Paths of the regular files, when asked for. */
  names?: string[]
}

const BLOCK = 512

function octal(buf: Buffer, off: number, len: number): number {
  // GNU base-256 for sizes of 8 GiB and more: the high bit of the first byte is set.
  if (buf[off]! & 0x80) {
    let n = 0
    for (let i = off + 1; i < off + len; i++) n = n * 256 + buf[i]!
    return n
  }
  const text = buf.toString('latin1', off, off + len).replace(/\0.*$/s, '').trim()
  if (text === '') return 0
  if (!/^[0-7]+$/.test(text)) throw new Error(`bad octal field "${text}"`)
  return parseInt(text, 8)
}

function checksumOk(h: Buffer): boolean {
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!
  return sum === octal(h, 148, 8)
}

const str = (b: Buffer, off: number, len: number) => b.toString('utf8', off, off + len).replace(/\0.*$/s, '')

/** Read the archive's headers; `withNames` keeps the file paths (tests, the drill's comparison). */
export function tarStats(path: string, withNames = false): TarStats {
  const fd = openSync(path, 'r')
  try {
    const size = fstatSync(fd).size
    const h = Buffer.alloc(BLOCK)
    const out: TarStats = { files: 0, bytes: 0, dirs: 0, ...(withNames ? { names: [] } : {}) }
    let pos = 0
    let longName: string | null = null
    let paxPath: string | null = null
    let paxSize: number | null = null
    for (;;) {
      if (pos + BLOCK > size) throw new KitError(`${path}: the archive ends inside a header (truncated at ${size} bytes)`)
      readSync(fd, h, 0, BLOCK, pos)
      pos += BLOCK
      if (h.every((b) => b === 0)) return out
      if (!checksumOk(h)) throw new KitError(`${path}: header checksum mismatch at byte ${pos - BLOCK} (corrupt archive)`)
      const type = String.fromCharCode(h[156]!)
      const entrySize = paxSize ?? octal(h, 124, 12)
      const dataBlocks = Math.ceil(octal(h, 124, 12) / BLOCK) * BLOCK
      if (pos + dataBlocks > size) throw new KitError(`${path}: the archive ends inside the data of an entry (truncated at ${size} bytes)`)
      if (type === 'L' || type === 'x') {
        const data = Buffer.alloc(octal(h, 124, 12))
        readSync(fd, data, 0, data.length, pos)
        if (type === 'L') longName = data.toString('utf8').replace(/\0.*$/s, '')
        else {
          for (const rec of data.toString('utf8').split('\n')) {
            const m = /^\d+ (\w+)=(.*)$/s.exec(rec)
            if (m?.[1] === 'path') paxPath = m[2]!
            if (m?.[1] === 'size') paxSize = Number(m[2])
          }
        }
        pos += dataBlocks
        continue
      }
      const prefix = str(h, 345, 155)
      const name = longName ?? paxPath ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100))
      longName = null
      paxPath = null
      paxSize = null
      if (type === '0' || type === '\0' || type === '7') {
        out.files++
        out.bytes += entrySize
        out.names?.push(name.replace(/^\.\//, ''))
      } else if (type === '5') out.dirs++
      pos += dataBlocks
    }
  } finally {
    closeSync(fd)
  }
}
