// HPACK (RFC 7541) for our HTTP/2 client: a complete decoder for what push services answer, and an
// encoder that sends every header as a literal, never indexed. The tables (static table, Huffman
// code) come from hpack.js; its codec is not used because it decodes bit by bit through a stream
// per header block, several microseconds per response on the push hot path. Here a response's
// few headers decode in a tight loop over the buffer.
import { table as STATIC_TABLE } from 'hpack.js/lib/hpack/static-table.js'
import { encode as HUFFMAN_CODE } from 'hpack.js/lib/hpack/huffman.js'

export class HpackError extends Error {}

const EOS = 256
const ENTRY_OVERHEAD = 32

// Canonical Huffman decoding: RFC 7541's code is canonical (codes of one length are consecutive
// integers, in symbol order), so a code of length L is symbol SORTED[OFFSET[L] + code - FIRST[L]]
// when code - FIRST[L] < COUNT[L]. Built once from the table, and checked to be canonical.
const MAX_CODE_LEN = 30
const FIRST = new Int32Array(MAX_CODE_LEN + 1)
const COUNT = new Int32Array(MAX_CODE_LEN + 1)
const OFFSET = new Int32Array(MAX_CODE_LEN + 1)
const SORTED: number[] = []
;(() => {
  if (HUFFMAN_CODE.length !== 257) throw new Error('hpack: the Huffman table must have 257 symbols')
  const bySymbol = HUFFMAN_CODE.map(([len, code], sym) => ({ len, code, sym }))
  bySymbol.sort((a, b) => a.len - b.len || a.sym - b.sym)
  let code = 0
  let prevLen = bySymbol[0]?.len ?? 0
  for (const [i, s] of bySymbol.entries()) {
    code <<= s.len - prevLen
    prevLen = s.len
    if (s.code !== code) throw new Error(`hpack: the Huffman table is not canonical at symbol ${s.sym}`)
    if (COUNT[s.len] === 0) {
      FIRST[s.len] = code
      OFFSET[s.len] = i
    }
    COUNT[s.len] = (COUNT[s.len] ?? 0) + 1
    SORTED.push(s.sym)
    code++
  }
})()

/** Decodes a Huffman-coded string (RFC 7541 §5.2): padding must be at most 7 one-bits, EOS never appears. */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  let out = ''
  let code = 0
  let len = 0
  for (let i = start; i < end; i++) {
    const byte = buf[i] as number
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1)
      len++
      const k = code - (FIRST[len] as number)
      if ((COUNT[len] as number) > 0 && k >= 0 && k < (COUNT[len] as number)) {
        const sym = SORTED[(OFFSET[len] as number) + k] as number
        if (sym === EOS) throw new HpackError('Huffman string contains EOS')
        out += String.fromCharCode(sym)
        code = 0
        len = 0
      } else if (len >= MAX_CODE_LEN) {
        throw new HpackError('invalid Huffman code')
      }
    }
  }
  // What is left must be a prefix of EOS (all ones) shorter than a byte.
  if (len > 7 || code !== (1 << len) - 1) throw new HpackError('invalid Huffman padding')
  return out
}

type Field = readonly [name: string, value: string]

/** One connection's decoding context: the dynamic table lives as long as the connection. */
export class HpackDecoder {
  private readonly dynamic: Field[] = []
  private size = 0
  private maxSize: number

  /** `limit`: the SETTINGS_HEADER_TABLE_SIZE we advertised, the most the peer may ask for. */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit
  }

  /** Decodes one complete header block into [name, value] pairs; throws HpackError (a connection error). */
  decode(block: Uint8Array): Field[] {
    const fields: Field[] = []
    let p = 0
    const n = block.length
    const int = (prefixBits: number): number => {
      if (p >= n) throw new HpackError('truncated integer')
      const max = (1 << prefixBits) - 1
      let v = (block[p++] as number) & max
      if (v < max) return v
      let shift = 0
      for (;;) {
        if (p >= n) throw new HpackError('truncated integer')
        const b = block[p++] as number
        v += (b & 0x7f) * 2 ** shift
        shift += 7
        if ((b & 0x80) === 0) break
        if (shift > 28) throw new HpackError('integer too large')
      }
      return v
    }
    const str = (): string => {
      if (p >= n) throw new HpackError('truncated string')
      const huffman = ((block[p] as number) & 0x80) !== 0
      const len = int(7)
      if (p + len > n) throw new HpackError('truncated string')
      const s = huffman ? huffmanDecode(block, p, p + len) : latin1(block, p, p + len)
      p += len
      return s
    }
    let sawField = false
    while (p < n) {
      const b = block[p] as number
      if (b & 0x80) {
        fields.push(this.entry(int(7)))
        sawField = true
      } else if (b & 0x40) {
        const idx = int(6)
        const name = idx === 0 ? str() : (this.entry(idx)[0] as string)
        const field: Field = [name, str()]
        this.insert(field)
        fields.push(field)
        sawField = true
      } else if (b & 0x20) {
        // A table size update is only allowed at the start of a block (§4.2).
        if (sawField) throw new HpackError('dynamic table size update after a header field')
        const size = int(5)
        if (size > this.limit) throw new HpackError(`dynamic table size ${size} over the advertised ${this.limit}`)
        this.maxSize = size
        this.evict(0)
      } else {
        // Literal without indexing (0000) or never indexed (0001): 4-bit name index.
        const idx = int(4)
        const name = idx === 0 ? str() : (this.entry(idx)[0] as string)
        fields.push([name, str()])
        sawField = true
      }
    }
    return fields
  }

  private entry(index: number): Field {
    if (index === 0) throw new HpackError('index 0')
    if (index <= STATIC_TABLE.length) {
      const e = STATIC_TABLE[index - 1] as { name: string; value: string }
      return [e.name, e.value]
    }
    const e = this.dynamic[index - STATIC_TABLE.length - 1]
    if (!e) throw new HpackError(`index ${index} is not in the table`)
    return e
  }

  private insert(field: Field): void {
    const size = field[0].length + field[1].length + ENTRY_OVERHEAD
    this.evict(size)
    // An entry larger than the table empties it and is not added (§4.4).
    if (size <= this.maxSize) {
      this.dynamic.unshift(field)
      this.size += size
    }
  }

  private evict(room: number): void {
    while (this.size + room > this.maxSize && this.dynamic.length > 0) {
      const e = this.dynamic.pop() as Field
      this.size -= e[0].length + e[1].length + ENTRY_OVERHEAD
    }
  }
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  // Header values are octets; the push services send ASCII.
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1')
}

const STATIC_NAME_INDEX = new Map<string, number>()
for (const [i, e] of STATIC_TABLE.entries()) if (!STATIC_NAME_INDEX.has(e.name)) STATIC_NAME_INDEX.set(e.name, i + 1)

/**
 * Encodes request headers as literals without indexing (§6.2.2): no encoder state to keep in step
 * with the server's table, at the cost of a few hundred bytes per request that TLS carries for
 * microseconds. Names must be lowercase; values must not contain CR, LF or NUL (checked: a header
 * built from outside data must not smuggle a second header or request).
 */
export function encodeHeaders(headers: ReadonlyArray<Field>): Buffer {
  let size = 0
  for (const [name, value] of headers) size += name.length + value.length + 12
  const out = Buffer.allocUnsafe(size)
  let p = 0
  const int = (v: number, prefixBits: number, first: number): void => {
    const max = (1 << prefixBits) - 1
    if (v < max) {
      out[p++] = first | v
      return
    }
    out[p++] = first | max
    v -= max
    while (v >= 0x80) {
      out[p++] = (v & 0x7f) | 0x80
      v >>>= 7
    }
    out[p++] = v
  }
  const str = (s: string): void => {
    int(s.length, 7, 0)
    p += out.write(s, p, 'latin1')
  }
  for (const [name, value] of headers) {
    if (!isFieldValue(value)) throw new HpackError(`header ${name}: value contains a forbidden character`)
    const idx = STATIC_NAME_INDEX.get(name)
    if (idx !== undefined) int(idx, 4, 0)
    else {
      if (!isFieldName(name)) throw new HpackError(`invalid header name ${JSON.stringify(name)}`)
      out[p++] = 0
      str(name)
    }
    str(value)
  }
  return out.subarray(0, p)
}

const FIELD_NAME = /^:?[a-z0-9!#$%&'*+\-.^_`|~]+$/
function isFieldName(name: string): boolean {
  return FIELD_NAME.test(name)
}

function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0 || c === 10 || c === 13 || c > 255) return false
  }
  return true
}
