/** Id formats as bijections from an index in [0, size) to a string, so unique indices give unique ids. */

export interface IdFormat {
  /** How many distinct ids the format has. */
  size: number;
  /** The id of `index` (0 ≤ index < size). */
  format(index: number): string;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

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

/** ASCII codes of each byte's two hex digits, for writing UUIDs as bytes. */
export const HEX_CODES = new Uint8Array(512);
for (let byte = 0; byte < 256; byte++) {
  HEX_CODES[2 * byte] = HEX[byte]!.charCodeAt(0);
  HEX_CODES[2 * byte + 1] = HEX[byte]!.charCodeAt(1);
}
