// Server-sent events, incrementally: bytes in, one callback per complete event's data.
import { StringDecoder } from 'node:string_decoder'

export class SseParser {
  private decoder = new StringDecoder('utf8')
  private rest = ''
  private data: string[] = []

  /** Feed bytes; onEvent gets each event's data (data lines joined by \n), in order. */
  push(chunk: Buffer | Uint8Array, onEvent: (data: string) => void): void {
    let text = this.rest + this.decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    // A trailing \r may be the first half of \r\n: keep it for the next chunk.
    const keepCr = text.endsWith('\r')
    if (keepCr) text = text.slice(0, -1)
    const lines = text.split(/\r\n|\r|\n/)
    this.rest = lines.pop()! + (keepCr ? '\r' : '')
    for (const line of lines) this.line(line, onEvent)
  }

  /** The stream ended: a last event without its blank line still counts. */
  end(onEvent: (data: string) => void): void {
    const last = this.rest.replace(/\r$/, '') + this.decoder.end()
    this.rest = ''
    if (last) this.line(last, onEvent)
    if (this.data.length) this.line('', onEvent)
  }

  private line(line: string, onEvent: (data: string) => void): void {
    if (line === '') {
      if (this.data.length) onEvent(this.data.join('\n'))
      this.data = []
      return
    }
    if (line.startsWith(':')) return // comment / keep-alive
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    if (field !== 'data') return
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    this.data.push(value)
  }
}
