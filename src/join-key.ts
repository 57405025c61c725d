/**
 * Map keys joined from two strings, the same string object every time for
 * the same pair. A key concatenated afresh is a new string that every Map
 * lookup flattens and hashes again (per request, for each metric series and
 * statistics bucket); a cached one keeps its hash. The parts are a config's
 * names (routes, providers, models) and fixed words, so the cache stays
 * small; past its bounds, keys are joined without caching.
 */
export function keyJoiner(separator: string): (a: string, b: string) => string {
  const cache = new Map<string, Map<string, string>>();
  return (a, b) => {
    let inner = cache.get(a);
    if (!inner) {
      if (cache.size >= 4096) return a + separator + b;
      cache.set(a, (inner = new Map()));
    }
    let key = inner.get(b);
    if (key === undefined) {
      key = a + separator + b;
      if (inner.size < 1024) inner.set(b, key);
    }
    return key;
  };
}
