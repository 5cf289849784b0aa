const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * XORs buf[start, end) in place with the 4-byte masking key, where buf[start]
 * takes key byte `phase` (the payload offset modulo 4, so a payload that
 * arrives in pieces unmasks piece by piece). The key is key[keyAt, keyAt + 4).
 * Works four bytes at a time on the aligned middle; masking and unmasking are
 * the same operation.
 */
export function unmask(buf: Uint8Array, start: number, end: number, key: Uint8Array, phase = 0, keyAt = 0): void {
  let i = start;
  let p = phase & 3;
  if (end - start >= 32) {
    while (((buf.byteOffset + i) & 3) !== 0) {
      buf[i++] ^= key[keyAt + p]!;
      p = (p + 1) & 3;
    }
    const words = (end - i) >>> 2;
    const k0 = key[keyAt + p]!,
      k1 = key[keyAt + ((p + 1) & 3)]!,
      k2 = key[keyAt + ((p + 2) & 3)]!,
      k3 = key[keyAt + ((p + 3) & 3)]!;
    const word = LITTLE_ENDIAN
      ? (k0 | (k1 << 8) | (k2 << 16) | (k3 << 24)) >>> 0
      : ((k0 << 24) | (k1 << 16) | (k2 << 8) | k3) >>> 0;
    const u32 = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let w = 0; w < words; w++) u32[w] ^= word;
    i += words << 2;
  }
  for (; i < end; i++) {
    buf[i] ^= key[keyAt + p]!;
    p = (p + 1) & 3;
  }
}
