/**
 * A latency histogram in microseconds: exact below 1,024 µs, then 128 buckets per doubling
 * (under 0.6 % error), so it is small, mergeable across processes and never drops a sample.
 */
const LINEAR = 1024;
const PER_OCTAVE = 128;
const BUCKETS = LINEAR + 24 * PER_OCTAVE;

function index(us: number): number {
  if (us < LINEAR) return Math.max(0, Math.floor(us));
  const i = LINEAR + Math.floor(Math.log2(us / LINEAR) * PER_OCTAVE);
  return Math.min(i, BUCKETS - 1);
}

function value(i: number): number {
  return i < LINEAR ? i : LINEAR * 2 ** ((i - LINEAR + 0.5) / PER_OCTAVE);
}

/** Latency percentiles in milliseconds. */
export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export class Histogram {
  readonly counts: number[];
  n = 0;
  maxUs = 0;

  constructor(counts?: number[]) {
    this.counts = counts ?? new Array<number>(BUCKETS).fill(0);
    if (counts) this.n = counts.reduce((a, b) => a + b, 0);
  }

  record(us: number): void {
    this.counts[index(us)]!++;
    this.n++;
    if (us > this.maxUs) this.maxUs = us;
  }

  merge(other: { counts: number[]; maxUs: number }): void {
    for (let i = 0; i < BUCKETS; i++) {
      const c = other.counts[i] ?? 0;
      this.counts[i]! += c;
      this.n += c;
    }
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }

  /** The value (µs) at quantile `q` (0..1). */
  quantile(q: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.ceil(q * this.n);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(value(i), this.maxUs);
    }
    return this.maxUs;
  }

  percentiles(): Percentiles {
    const ms = (us: number): number => Math.round(us) / 1000;
    return { n: this.n, p50: ms(this.quantile(0.5)), p99: ms(this.quantile(0.99)), max: ms(this.maxUs) };
  }

  /** A sparse form for IPC. */
  toJSON(): { counts: number[]; maxUs: number } {
    return { counts: this.counts, maxUs: this.maxUs };
  }
}

/** Microseconds on the machine's monotonic clock: the same clock in every process, so a timestamp crosses processes. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
