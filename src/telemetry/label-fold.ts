/**
 * Bounded label values for statistics and metrics. Model names can come
 * from callers (a provider's allowed_models "*", a refused name); each
 * distinct one used to add a series to /metrics and an entry to GetStats
 * for good. The first `max` names keep their own label; later ones share
 * "other".
 */

/** The label names beyond the bound share. */
export const OTHER_LABEL = "other";

/** Most distinct names a fold keeps by default. */
export const MAX_LABELS = 1024;

/** Returns `name`, or "other" once `max` other names are taken. */
export function createLabelFold(max = MAX_LABELS): (name: string) => string {
  const seen = new Set<string>();
  return (name) => {
    if (seen.has(name)) return name;
    if (seen.size >= max) return OTHER_LABEL;
    seen.add(name);
    return name;
  };
}
