/**
 * A seeded random source (mulberry32), so a chaos run's fault dice and load
 * mix repeat from one run to the next; only the timing differs.
 */

/** Returns a function yielding numbers in [0, 1) from `seed`. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
