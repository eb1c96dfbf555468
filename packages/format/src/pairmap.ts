/**
 * A hash map from a pair of uint32 (parent stack, frame) to a non-zero uint32 (stack id), with open
 * addressing in typed arrays: the writer's hottest lookup, several times faster than a Map of
 * composite keys.
 */
export class PairMap {
  private a = new Uint32Array(1 << 12);
  private b = new Uint32Array(1 << 12);
  private v = new Uint32Array(1 << 12);
  private size = 0;

  private slot(a: number, b: number): number {
    const mask = this.v.length - 1;
    let i = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) & mask;
    while (this.v[i] !== 0 && (this.a[i] !== a || this.b[i] !== b)) i = (i + 1) & mask;
    return i;
  }

  /** The value of (a, b), or 0 when absent. */
  get(a: number, b: number): number {
    return this.v[this.slot(a, b)];
  }

  /** Sets (a, b) to `value` (non-zero). */
  set(a: number, b: number, value: number): void {
    if ((this.size + 1) * 2 > this.v.length) this.grow();
    const i = this.slot(a, b);
    if (this.v[i] === 0) this.size++;
    this.a[i] = a;
    this.b[i] = b;
    this.v[i] = value;
  }

  private grow(): void {
    const { a, b, v } = this;
    this.a = new Uint32Array(v.length * 2);
    this.b = new Uint32Array(v.length * 2);
    this.v = new Uint32Array(v.length * 2);
    for (let i = 0; i < v.length; i++) {
      if (v[i] === 0) continue;
      const j = this.slot(a[i], b[i]);
      this.a[j] = a[i];
      this.b[j] = b[i];
      this.v[j] = v[i];
    }
  }
}
