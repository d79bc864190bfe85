// Envoy's earliest-deadline-first scheduler (EdfScheduler) for weighted picks: each pick takes the
// entry with the earliest deadline and re-adds it at deadline + 1/weight (weight read at that
// moment); ties go in insertion order.

export class Edf<T> {
  private readonly items: readonly T[];
  private readonly weightOf: (t: T) => number;
  private readonly dl: Float64Array;
  private readonly ord: Float64Array;
  private readonly ix: Int32Array;
  private readonly n: number;
  private time = 0;
  private order = 0;

  constructor(items: readonly T[], weightOf: (t: T) => number, prePicks: number) {
    const n = items.length;
    this.items = items;
    this.weightOf = weightOf;
    this.n = n;
    this.dl = new Float64Array(n);
    this.ord = new Float64Array(n);
    this.ix = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.dl[i] = 1 / safeWeight(weightOf(items[i]));
      this.ord[i] = this.order++;
      this.ix[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.down(i);
    // A start offset (Envoy pre-picks seed % N times) so workers/instances do not move in lockstep.
    for (let i = 0; i < prePicks; i++) this.pick();
  }

  pick(): T {
    const item = this.items[this.ix[0]];
    this.time = this.dl[0];
    this.dl[0] = this.time + 1 / safeWeight(this.weightOf(item));
    this.ord[0] = this.order++;
    this.down(0);
    return item;
  }

  private less(a: number, b: number): boolean {
    const da = this.dl[a], db = this.dl[b];
    return da < db || (da === db && this.ord[a] < this.ord[b]);
  }

  private down(k: number): void {
    const n = this.n;
    for (;;) {
      const l = 2 * k + 1;
      if (l >= n) return;
      let m = l;
      if (l + 1 < n && this.less(l + 1, l)) m = l + 1;
      if (!this.less(m, k)) return;
      const d = this.dl[k], o = this.ord[k], x = this.ix[k];
      this.dl[k] = this.dl[m];
      this.ord[k] = this.ord[m];
      this.ix[k] = this.ix[m];
      this.dl[m] = d;
      this.ord[m] = o;
      this.ix[m] = x;
      k = m;
    }
  }
}

function safeWeight(w: number): number {
  return w > 1e-9 && w < Infinity ? w : 1e-9;
}
