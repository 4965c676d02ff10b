// Types for the two data modules of hpack.js we load (RFC 7541's static table and Huffman code).
// The package's stream-based codec is not used: see hpack.ts.
declare module 'hpack.js/lib/hpack/static-table.js' {
  export const table: ReadonlyArray<{ name: string; value: string }>
}
declare module 'hpack.js/lib/hpack/huffman.js' {
  /** Per symbol 0..256 (256 = EOS): [code length in bits, code]. */
  export const encode: ReadonlyArray<readonly [number, number]>
}
