/**
 * Scraping a broker's `/rt/metrics` in tests: the Prometheus text is parsed by a Prometheus
 * text parser (parse-prometheus-text-format), and samples are read by name and labels.
 */
import assert from 'node:assert/strict';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';

/** A parsed scrape. */
export class Scrape {
  readonly families: Map<string, ParsedFamily>;

  constructor(readonly text: string) {
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  }

  /** The value of `name` with exactly `labels` (0 when the family has no such sample); throws when the family is missing. */
  value(name: string, labels: Record<string, string> = {}): number {
    const family = this.families.get(name);
    assert.ok(family, `no metric ${name} in the scrape`);
    const want = JSON.stringify(Object.entries(labels).sort());
    const sample = family.metrics.find((m) => JSON.stringify(Object.entries(m.labels ?? {}).sort()) === want);
    return sample?.value === undefined ? 0 : Number(sample.value);
  }

  /** The observation count and sum of histogram `name` (without labels). */
  histogram(name: string): { count: number; sum: number } {
    const sample = this.families.get(name)?.metrics[0];
    assert.ok(sample?.count !== undefined, `no histogram ${name} in the scrape`);
    return { count: Number(sample.count), sum: Number(sample.sum) };
  }

  /** Every label set of `name`. */
  labelSets(name: string): Record<string, string>[] {
    return (this.families.get(name)?.metrics ?? []).map((m) => m.labels ?? {});
  }
}

/** Scrapes `url` (with `token` as a bearer token) and parses the answer. */
export async function scrape(url: string, token?: string): Promise<Scrape> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `scraping ${url}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return new Scrape(await res.text());
}
