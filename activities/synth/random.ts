/**
 * Counter-based randomness: every cell's random numbers are a pure function of (seed, table, column,
 * row). Any row range can therefore be generated on its own, in any order, on any worker, and the result
 * is byte-identical to one unsharded run.
 */

/** MurmurHash3's 32-bit finaliser: a fast bijective mix with good avalanche. */
export function mix32(value: number): number {
  let x = value | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The random 32 bits of cell `row` of the column whose key is `columnKey`. */
export function cellHash(columnKey: number, row: number): number {
  return mix32(columnKey ^ Math.imul(row, 0x9e3779b1) ^ Math.imul((row / 4294967296) | 0, 0x85ebca77));
}

/** A further independent draw from a cell hash (draw 1, 2, … of the same cell). */
export function nextHash(hash: number, draw: number): number {
  return mix32(hash ^ Math.imul(draw + 1, 0x27d4eb2f));
}

/** [0, 1) from 32 random bits. */
export function unit(hash: number): number {
  return hash / 4294967296;
}

/** An integer in [0, n) from 32 random bits (n ≤ 2^32; bias below 2^-32 · n, negligible here). */
export function below(hash: number, n: number): number {
  return Math.floor(unit(hash) * n);
}

/** A stable 32-bit key for a name path such as `seed/table/column` (FNV-1a, then mixed). */
export function keyOf(...parts: Array<string | number>): number {
  let hash = 0x811c9dc5;
  const text = parts.join('\u0000');
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return mix32(hash);
}

/** A standard normal draw (Box–Muller) from two cell hashes. */
export function standardNormal(hashA: number, hashB: number): number {
  const u1 = (hashA + 1) / 4294967297; // (0, 1): log(0) never happens
  const u2 = unit(hashB);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * A keyed pseudo-random permutation of [0, size): a balanced Feistel network on the smallest even number
 * of bits that covers `size`, with cycle walking. Used to give rows unique ids without remembering any.
 */
export class Permutation {
  private readonly halfBits: number;
  private readonly halfSize: number;
  private readonly mask: number;
  private readonly k0: number;
  private readonly k1: number;
  private readonly k2: number;
  private readonly k3: number;

  constructor(
    readonly size: number,
    key: number,
  ) {
    if (!(size >= 1) || size > 2 ** 52) throw new RangeError(`permutation size out of range: ${size}`);
    let bits = Math.max(2, Math.ceil(Math.log2(size)));
    if (2 ** bits < size) bits += 1;
    this.halfBits = Math.ceil(bits / 2);
    this.halfSize = 2 ** this.halfBits;
    this.mask = this.halfSize - 1;
    [this.k0, this.k1, this.k2, this.k3] = [1, 2, 3, 4].map((round) => mix32(key ^ Math.imul(round, 0x9e3779b1))) as [number, number, number, number];
  }

  /** Four Feistel rounds on values past 32 bits (halves of up to 26 bits, so in floating point); `apply32` below. */
  private encrypt(value: number): number {
    const { mask, halfSize } = this;
    let left = Math.floor(value / halfSize);
    let right = value - left * halfSize;
    for (const key of [this.k0, this.k1, this.k2, this.k3]) {
      const next = (left ^ (mix32(right ^ key) & mask)) >>> 0;
      left = right;
      right = next;
    }
    return left * halfSize + right;
  }

  /** The image of `index` (0 ≤ index < size); distinct indices give distinct results. */
  apply(index: number): number {
    if (this.halfBits <= 16) return this.apply32(index);
    let value = this.encrypt(index);
    while (value >= this.size) value = this.encrypt(value);
    return value;
  }

  /**
   * `apply` for sizes up to 2^32: the same rounds with mix32 written out, which V8 did not inline
   * through encrypt (half the time of a series period's draws and shuffle).
   */
  private apply32(index: number): number {
    const { mask, halfBits, k0, k1, k2, k3, size } = this;
    let value = index;
    do {
      let left = value >>> halfBits;
      let right = value & mask;
      let x = right ^ k0;
      x ^= x >>> 16;
      x = Math.imul(x, 0x85ebca6b);
      x ^= x >>> 13;
      x = Math.imul(x, 0xc2b2ae35);
      x ^= x >>> 16;
      let next = left ^ (x & mask);
      left = right;
      right = next;
      x = right ^ k1;
      x ^= x >>> 16;
      x = Math.imul(x, 0x85ebca6b);
      x ^= x >>> 13;
      x = Math.imul(x, 0xc2b2ae35);
      x ^= x >>> 16;
      next = left ^ (x & mask);
      left = right;
      right = next;
      x = right ^ k2;
      x ^= x >>> 16;
      x = Math.imul(x, 0x85ebca6b);
      x ^= x >>> 13;
      x = Math.imul(x, 0xc2b2ae35);
      x ^= x >>> 16;
      next = left ^ (x & mask);
      left = right;
      right = next;
      x = right ^ k3;
      x ^= x >>> 16;
      x = Math.imul(x, 0x85ebca6b);
      x ^= x >>> 13;
      x = Math.imul(x, 0xc2b2ae35);
      x ^= x >>> 16;
      next = left ^ (x & mask);
      left = right;
      right = next;
      value = ((left << halfBits) | right) >>> 0;
    } while (value >= size);
    return value;
  }
}
