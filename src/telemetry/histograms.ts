/**
 * Explicit-bucket histograms aggregated here and handed to each metric reader
 * by a MetricProducer, instead of the SDK's synchronous histograms. Those sort
 * and serialise the attribute set, read the clock and the active context on
 * every record, three records a request; here a record is a Map lookup by a
 * key the caller joins and a bucket count. The data points are the SDK's:
 * upper-inclusive buckets, sum, count, min and max; cumulative or delta as the
 * reader asks (each delta reader keeps its own interval); the SDK's
 * cardinality limit (series.ts).
 */
import { ValueType, type Attributes, type HrTime } from "@opentelemetry/api";
import { hrTime } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { seriesOf } from "./series.ts";
import { AggregationTemporality, DataPointType, InstrumentType, type HistogramMetricData, type MetricDescriptor, type MetricProducer } from "@opentelemetry/sdk-metrics";

/** Records one value into the series `key` (whose attributes are built once, on its first value). */
export type RecordHistogram = (key: string, value: number, attributes: () => Attributes) => void;

/** What a histogram is called and how its buckets are bounded. */
export interface HistogramOptions {
  readonly description: string;
  readonly unit: string;
  readonly boundaries: readonly number[];
}

/** The histograms, and a producer for each metric reader. */
export interface Histograms {
  histogram(name: string, options: HistogramOptions): RecordHistogram;
  /** A producer for a reader that wants `temporality` (asked at each collection). */
  producer(temporality: () => AggregationTemporality): MetricProducer;
}

interface Series {
  readonly attributes: Attributes;
  readonly counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
  readonly startTime: HrTime;
}

/** One running aggregation of every histogram: the cumulative one, or one delta reader's interval. */
interface Accumulation {
  readonly series: Map<string, Series>[];
  startTime: HrTime;
}

interface Instrument {
  readonly name: string;
  readonly options: HistogramOptions;
}

export function createHistograms(now: () => HrTime = hrTime): Histograms {
  const instruments: Instrument[] = [];
  const cumulative: Accumulation = { series: [], startTime: now() };
  const accumulations: Accumulation[] = [cumulative];
  const resource = resourceFromAttributes({});

  const add = (acc: Accumulation, at: number, key: string, value: number, attributes: () => Attributes, bucket: number) => {
    const s = seriesOf(acc.series[at] as Map<string, Series>, key, attributes, (a) => ({
      attributes: a,
      counts: new Array<number>((instruments[at] as Instrument).options.boundaries.length + 1).fill(0),
      sum: 0,
      count: 0,
      min: Infinity,
      max: -Infinity,
      startTime: acc === cumulative ? now() : acc.startTime,
    }));
    (s.counts[bucket] as number)++;
    s.sum += value;
    s.count++;
    if (value < s.min) s.min = value;
    if (value > s.max) s.max = value;
  };

  const snapshot = (acc: Accumulation, temporality: AggregationTemporality, endTime: HrTime): HistogramMetricData[] =>
    instruments.map((inst, at) => ({
      // As the SDK describes its own histograms (type and advice included).
      descriptor: {
        name: inst.name,
        type: InstrumentType.HISTOGRAM,
        description: inst.options.description,
        unit: inst.options.unit,
        valueType: ValueType.DOUBLE,
        advice: { explicitBucketBoundaries: [...inst.options.boundaries] },
      } as MetricDescriptor,
      aggregationTemporality: temporality,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: [...(acc.series[at] as Map<string, Series>).values()].map((s) => ({
        startTime: s.startTime,
        endTime,
        attributes: s.attributes,
        value: { buckets: { boundaries: [...inst.options.boundaries], counts: [...s.counts] }, sum: s.sum, count: s.count, min: s.min, max: s.max },
      })),
    }));

  return {
    histogram(name, options) {
      const at = instruments.push({ name, options }) - 1;
      for (const acc of accumulations) acc.series[at] = new Map();
      const bounds = options.boundaries;
      return (key, value, attributes) => {
        let bucket = 0;
        while (bucket < bounds.length && value > (bounds[bucket] as number)) bucket++;
        for (const acc of accumulations) add(acc, at, key, value, attributes, bucket);
      };
    },
    producer(temporality) {
      let own: Accumulation | undefined;
      return {
        async collect() {
          const endTime = now();
          let acc = cumulative;
          const t = temporality();
          if (t === AggregationTemporality.DELTA) {
            // The first collection reports what was recorded since start-up;
            // each later one, what came since the one before.
            acc = own ?? cumulative;
            own = { series: instruments.map(() => new Map()), startTime: endTime };
            accumulations.push(own);
            if (acc !== cumulative) accumulations.splice(accumulations.indexOf(acc), 1);
          }
          return {
            resourceMetrics: { resource, scopeMetrics: [{ scope: { name: "detour" }, metrics: snapshot(acc, t, endTime) }] },
            errors: [],
          };
        },
      };
    },
  };
}
