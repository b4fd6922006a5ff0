// Types for the `bencode` npm package (v4 ships none).
declare module 'bencode' {
  interface Bencode {
    encode(value: unknown): Uint8Array;
    decode(data: Uint8Array, start?: number, end?: number, encoding?: string): unknown;
    byteLength(value: unknown): number;
    encodingLength(value: unknown): number;
  }
  const bencode: Bencode;
  export default bencode;
}
