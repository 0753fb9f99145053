/**
 * Id formats as bijections from an index in [0, size) to a string, so unique indices give unique ids.
 * Seed 000's ids: digits with no leading zero, of a length range.
 */
import { cellHash, nextHash } from './random';

export interface IdFormat {
  /** How many distinct ids the format has. */
  size: number;
  /** The id of `index` (0 ≤ index < size). */
  format(index: number): string;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Digits without a leading zero: every number of minLength to maxLength digits. */
export function digitIds(minLength: number, maxLength: number): IdFormat {
  const lowest = 10 ** (minLength - 1); // 1 for one-digit ids: 0 would be a leading zero
  return { size: 10 ** maxLength - lowest, format: (index) => String(lowest + index) };
}

/** Strings over `alphabet` of minLength to maxLength characters. */
export function alphabetIds(alphabet: string, minLength: number, maxLength: number): IdFormat {
  const base = alphabet.length;
  const bucketSizes: number[] = [];
  for (let length = minLength; length <= maxLength; length++) bucketSizes.push(base ** length);
  const size = bucketSizes.reduce((sum, n) => sum + n, 0);
  return {
    size,
    format(index) {
      let offset = index;
      let length = minLength;
      for (const bucket of bucketSizes) {
        if (offset < bucket) break;
        offset -= bucket;
        length += 1;
      }
      let text = '';
      for (let i = 0; i < length; i++) {
        text = alphabet[offset % base]! + text;
        offset = Math.floor(offset / base);
      }
      return text;
    },
  };
}

const HEX_CODES = new Uint8Array(512);
for (let byte = 0; byte < 256; byte++) {
  HEX_CODES[2 * byte] = HEX[byte]!.charCodeAt(0);
  HEX_CODES[2 * byte + 1] = HEX[byte]!.charCodeAt(1);
}

/**
 * UUID v4 strings, deterministic from the index: the first 32 bits are the index itself (unique), the
 * other random bits come from a hash of it. Written as bytes into a scratch buffer: one flat string per
 * id is several times faster than concatenating 16 hex pairs.
 */
export function uuidIds(key: number, prefix = ''): IdFormat {
  const scratch = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');
  const put = (position: number, byte: number): void => {
    scratch[position] = HEX_CODES[2 * byte]!;
    scratch[position + 1] = HEX_CODES[2 * byte + 1]!;
  };
  return {
    size: 2 ** 32,
    format(index) {
      const h1 = cellHash(key, index);
      const h2 = nextHash(h1, 1);
      const h3 = nextHash(h1, 2);
      put(0, index >>> 24);
      put(2, (index >>> 16) & 255);
      put(4, (index >>> 8) & 255);
      put(6, index & 255);
      put(9, h1 >>> 24);
      put(11, (h1 >>> 16) & 255);
      put(14, 0x40 | ((h1 >>> 8) & 15)); // version 4
      put(16, h1 & 255);
      put(19, 0x80 | ((h2 >>> 24) & 63)); // RFC 4122 variant
      put(21, (h2 >>> 16) & 255);
      put(24, (h2 >>> 8) & 255);
      put(26, h2 & 255);
      put(28, h3 >>> 24);
      put(30, (h3 >>> 16) & 255);
      put(32, (h3 >>> 8) & 255);
      put(34, h3 & 255);
      const text = scratch.toString('latin1', 0, 36);
      return prefix ? prefix + text : text;
    },
  };
}
