/**
 * Byte-level id encoding: ids as a bijection from an index in [0, size) to text, written straight as
 * bytes (digits, row numbers, letters, UUIDs).
 */
import { alphabetIsSafe, type Delimiter, escapeCell } from '../storage/csv-cells';
import { ByteWriter } from './byte-writer';
import { encode, writeTextCell } from './cell-text';
import { alphabetIds, HEX_CODES } from './id-formats';
import * as random from './random';
import { type IdFormatSpec, idSpaceSize } from './spec';

// tsx compiles imports to getter calls on the module object; the hot loops call these local bindings.
const { cellHash, nextHash } = random;

/**
 * Ids as a bijection from an index in [0, size) to text, written straight as bytes. UUIDs: the first
 * 32 bits are the index (unique), the other random bits a hash of it; version 4, RFC 4122 variant.
 */
export class IdText {
  readonly size: number;
  private readonly prefix: Buffer;
  private readonly safe: boolean;
  private readonly lettersFormat?: ReturnType<typeof alphabetIds>;

  constructor(
    private readonly format: IdFormatSpec,
    private readonly key: number,
    private readonly delimiter: Delimiter,
  ) {
    this.size = idSpaceSize(format);
    this.prefix = encode(format.kind === 'uuid' ? escapeCell(format.prefix, delimiter) : '');
    this.safe = format.kind === 'letters' ? alphabetIsSafe(format.alphabet, delimiter) : format.kind === 'uuid' ? alphabetIsSafe(format.prefix, delimiter) : true;
    if (format.kind === 'letters') this.lettersFormat = alphabetIds(format.alphabet, format.minLength, format.maxLength);
  }

  text(index: number): string {
    const out = new ByteWriter(128);
    this.writeRaw(index, out);
    return out.buffer.toString('utf8', 0, out.position);
  }

  private writeRaw(index: number, out: ByteWriter): void {
    const format = this.format;
    switch (format.kind) {
      case 'digits':
        out.int(10 ** (format.minLength - 1) + index);
        return;
      case 'row-number':
        out.int(format.start + index);
        return;
      case 'letters':
        out.text(this.lettersFormat!.format(index));
        return;
      case 'uuid': {
        out.text(format.prefix);
        if (format.hyphens === false) writeCompactUuid(index, this.key, out);
        else writeUuid(index, this.key, out);
      }
    }
  }

  write(index: number, out: ByteWriter): void {
    if (this.safe) {
      if (this.format.kind === 'uuid') {
        if (this.prefix.length > 0) out.bytes(this.prefix);
        if (this.format.hyphens === false) writeCompactUuid(index, this.key, out);
        else writeUuid(index, this.key, out);
      } else this.writeRaw(index, out);
    } else writeTextCell(this.text(index), out, this.delimiter);
  }
}

export function writeUuid(index: number, key: number, out: ByteWriter): void {
  const h1 = cellHash(key, index);
  const h2 = nextHash(h1, 1);
  const h3 = nextHash(h1, 2);
  out.ensure(36);
  const buffer = out.buffer;
  const p = out.position;
  const hex = HEX_CODES;
  // Bytes of the 16-byte UUID, each as two hex digits, with dashes after bytes 4, 6, 8 and 10. Unrolled:
  // a loop over the bytes made the whole benchmark table about 10 % slower (bench/synth-task serialize).
  let byte = index >>> 24;
  buffer[p] = hex[2 * byte]!; buffer[p + 1] = hex[2 * byte + 1]!;
  byte = (index >>> 16) & 255;
  buffer[p + 2] = hex[2 * byte]!; buffer[p + 3] = hex[2 * byte + 1]!;
  byte = (index >>> 8) & 255;
  buffer[p + 4] = hex[2 * byte]!; buffer[p + 5] = hex[2 * byte + 1]!;
  byte = index & 255;
  buffer[p + 6] = hex[2 * byte]!; buffer[p + 7] = hex[2 * byte + 1]!;
  buffer[p + 8] = 45;
  byte = h1 >>> 24;
  buffer[p + 9] = hex[2 * byte]!; buffer[p + 10] = hex[2 * byte + 1]!;
  byte = (h1 >>> 16) & 255;
  buffer[p + 11] = hex[2 * byte]!; buffer[p + 12] = hex[2 * byte + 1]!;
  buffer[p + 13] = 45;
  byte = 0x40 | ((h1 >>> 8) & 15); // version 4
  buffer[p + 14] = hex[2 * byte]!; buffer[p + 15] = hex[2 * byte + 1]!;
  byte = h1 & 255;
  buffer[p + 16] = hex[2 * byte]!; buffer[p + 17] = hex[2 * byte + 1]!;
  buffer[p + 18] = 45;
  byte = 0x80 | ((h2 >>> 24) & 63); // RFC 4122 variant
  buffer[p + 19] = hex[2 * byte]!; buffer[p + 20] = hex[2 * byte + 1]!;
  byte = (h2 >>> 16) & 255;
  buffer[p + 21] = hex[2 * byte]!; buffer[p + 22] = hex[2 * byte + 1]!;
  buffer[p + 23] = 45;
  byte = (h2 >>> 8) & 255;
  buffer[p + 24] = hex[2 * byte]!; buffer[p + 25] = hex[2 * byte + 1]!;
  byte = h2 & 255;
  buffer[p + 26] = hex[2 * byte]!; buffer[p + 27] = hex[2 * byte + 1]!;
  byte = h3 >>> 24;
  buffer[p + 28] = hex[2 * byte]!; buffer[p + 29] = hex[2 * byte + 1]!;
  byte = (h3 >>> 16) & 255;
  buffer[p + 30] = hex[2 * byte]!; buffer[p + 31] = hex[2 * byte + 1]!;
  byte = (h3 >>> 8) & 255;
  buffer[p + 32] = hex[2 * byte]!; buffer[p + 33] = hex[2 * byte + 1]!;
  byte = h3 & 255;
  buffer[p + 34] = hex[2 * byte]!; buffer[p + 35] = hex[2 * byte + 1]!;
  out.position = p + 36;
}

/** The same UUID as writeUuid, as 32 hex digits without hyphens (exhibit's form). */
export function writeCompactUuid(index: number, key: number, out: ByteWriter): void {
  const h1 = cellHash(key, index);
  const h2 = nextHash(h1, 1);
  const h3 = nextHash(h1, 2);
  const bytes = [
    index >>> 24, (index >>> 16) & 255, (index >>> 8) & 255, index & 255,
    h1 >>> 24, (h1 >>> 16) & 255, 0x40 | ((h1 >>> 8) & 15), h1 & 255,
    0x80 | ((h2 >>> 24) & 63), (h2 >>> 16) & 255, (h2 >>> 8) & 255, h2 & 255,
    h3 >>> 24, (h3 >>> 16) & 255, (h3 >>> 8) & 255, h3 & 255,
  ];
  out.ensure(32);
  for (const byte of bytes) {
    out.buffer[out.position++] = HEX_CODES[2 * byte]!;
    out.buffer[out.position++] = HEX_CODES[2 * byte + 1]!;
  }
}
