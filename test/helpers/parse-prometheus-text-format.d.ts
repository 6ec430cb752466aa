/** Types of `parse-prometheus-text-format` (it ships none): prom2json's shape. */
declare module 'parse-prometheus-text-format' {
  /** One sample of a counter, gauge or untyped metric; histograms and summaries carry `buckets`/`quantiles`. */
  export interface ParsedSample {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    quantiles?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  /** One metric family. */
  export interface ParsedFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: ParsedSample[];
  }
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[];
}
