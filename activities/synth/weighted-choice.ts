/** Weighted sampling: one uniform draw in [0, 1) picks an option by its cumulative weight. */
export class WeightedChoice {
  readonly cumulative: Float64Array;

  /** Weights need not sum to 1; they are normalised. */
  constructor(weights: number[]) {
    const total = weights.reduce((sum, w) => sum + w, 0);
    let running = 0;
    this.cumulative = Float64Array.from(weights, (w) => (running += w / total));
    this.cumulative[weights.length - 1] = 1;
  }

  /** The index of the option that `u` (in [0, 1)) falls in. */
  pick(u: number): number {
    const cumulative = this.cumulative;
    const last = cumulative.length - 1;
    let k = 0;
    while (k < last && u >= cumulative[k]!) k++;
    return k;
  }
}
