/**
 * Metric series kept in-process by a key the caller joins, with the SDK's
 * cardinality limit: 1,999 series, then every new one adds to a single
 * overflow series (attribute otel.metric.overflow = true), as the SDK's own
 * instruments do.
 */
import type { Attributes } from "@opentelemetry/api";

const MAX_SERIES = 1999;
const OVERFLOW = "\u0000overflow";
const OVERFLOW_ATTRIBUTES: Attributes = { "otel.metric.overflow": true };

/**
 * The series `key` of `all`, made by `make` on first use with its attributes
 * (built only then); past the limit, the overflow series.
 */
export function seriesOf<S>(all: Map<string, S>, key: string, attributes: () => Attributes, make: (attributes: Attributes) => S): S {
  const s = all.get(key);
  if (s) return s;
  if (all.size < MAX_SERIES) {
    const made = make(attributes());
    all.set(key, made);
    return made;
  }
  let overflow = all.get(OVERFLOW);
  if (!overflow) all.set(OVERFLOW, (overflow = make(OVERFLOW_ATTRIBUTES)));
  return overflow;
}
