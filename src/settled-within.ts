/**
 * Waiting for something that may never finish (a flush to a collector that
 * does not answer, a QUIT to a Redis that is gone) without waiting forever.
 */

/** Resolves true once `p` settles (either way), or false after `ms`. */
export function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer));
}
