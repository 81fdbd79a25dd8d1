// Labelled series of prom-client metrics for the per-request path. prom-client's own children
// (`metric.labels(...)`) validate and hash their label values on every call: ~1.5 µs per
// observation, seven observations per request. These find their series once and then update it in
// place. They read prom-client's per-series records (its `hashMap`; prom-client is pinned in
// package.json): a histogram series is {labels, bucketValues, sum, count}, a counter's {labels,
// value}. test/serve/metric-children.test.ts compares their exposition with prom-client's children,
// so a prom-client whose records change fails there; and whenever the record is not the one found
// (after a reset, say) a call goes through prom-client's own observe/inc and the series is found again.
import type { Counter, Histogram, LabelValues } from 'prom-client';

interface HistogramSeries {
  labels: Record<string, string | number>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}
interface CounterSeries {
  labels: Record<string, string | number>;
  value: number;
}
interface Records<S> {
  hashMap: Record<string, S>;
}

/** The key of the series with exactly these label values, or undefined. */
function seriesKey<S extends { labels: Record<string, string | number> }>(
  records: Records<S>,
  labels: Record<string, string | number>,
): string | undefined {
  const names = Object.keys(labels);
  return Object.keys(records.hashMap).find((key) => {
    const found = records.hashMap[key].labels;
    return found !== undefined && Object.keys(found).length === names.length && names.every((n) => String(found[n]) === String(labels[n]));
  });
}

export interface HistogramChild {
  observe(value: number): void;
}

export function histogramChild<T extends string>(histogram: Histogram<T>, labels: LabelValues<T>): HistogramChild {
  const records = histogram as unknown as Records<HistogramSeries> & { upperBounds: number[] };
  const own = labels as Record<string, string | number>;
  // bucketValues is keyed by the bounds as strings: converting a double to its key on every call was most of the cost.
  const bounds = records.upperBounds;
  const bucketKeys = bounds.map(String);
  let key: string | undefined;
  let series: HistogramSeries | undefined;
  return {
    observe(value: number): void {
      if (key !== undefined && records.hashMap[key] === series && Number.isFinite(value)) {
        const s = series!;
        s.sum += value;
        s.count += 1;
        // The first bucket whose upper bound holds the value (none past the last: only +Inf, which is count).
        for (let i = 0; i < bounds.length; i++) {
          if (value <= bounds[i]) {
            s.bucketValues[bucketKeys[i]] += 1;
            break;
          }
        }
        return;
      }
      histogram.observe(labels, value);
      key = seriesKey(records, own);
      series = key === undefined ? undefined : records.hashMap[key];
    },
  };
}

export interface CounterChild {
  inc(): void;
}

export function counterChild<T extends string>(counter: Counter<T>, labels: LabelValues<T>): CounterChild {
  const records = counter as unknown as Records<CounterSeries>;
  const own = labels as Record<string, string | number>;
  let key: string | undefined;
  let series: CounterSeries | undefined;
  return {
    inc(): void {
      if (key !== undefined && records.hashMap[key] === series) {
        series!.value += 1;
        return;
      }
      counter.inc(labels);
      key = seriesKey(records, own);
      series = key === undefined ? undefined : records.hashMap[key];
    },
  };
}
