/**
 * Hedging: when a target misses its time-to-first-token threshold and the
 * route hedges, the slow attempt is not aborted; the next target starts
 * beside it and the first of the two to produce a token wins. The loser is
 * cancelled (its upstream call aborted) and reported through `onLoser`, so
 * the trail and the cost show it. If one of the two fails before any token,
 * the other simply carries on.
 */
import type { ProviderEvent } from "../providers/types.ts";
import { onTime, type OnTime } from "./on-time.ts";

/** A started attempt the race can read from and cancel. */
export interface Contender<T> {
  readonly tag: T;
  readonly events: AsyncIterator<readonly ProviderEvent[]>;
  /**
   * Stops the contender's upstream call. A pending read cannot be ended with
   * return(), which waits for that read: the abort makes it settle.
   */
  readonly cancel: () => void;
}

/** The outcome of a race, read by the caller after iteration. */
export interface HedgeState<T> {
  /** The contender whose events were yielded; set once decided. */
  winner: T | undefined;
}

type Pull<T> = { who: Contender<T>; result: IteratorResult<readonly ProviderEvent[]> } | { who: Contender<T>; error: unknown };

function pull<T>(c: Contender<T>): Promise<Pull<T>> {
  return c.events.next().then(
    (result) => ({ who: c, result }),
    (error: unknown) => ({ who: c, error }),
  );
}

const hasToken = (batch: readonly ProviderEvent[]) => batch.some((e) => e.type === "text" || e.type === "tool_call");

/**
 * Yields the first contender's batches of events; after `afterMs` without a
 * token, starts the second (via `startSecond`, which may decline) and yields
 * the batches of whichever produces a token first.
 */
export async function* hedged<T>(
  first: Contender<T>,
  afterMs: number,
  startSecond: () => Contender<T> | undefined,
  onLoser: (loser: T, failure: unknown) => void,
  state: HedgeState<T>,
): AsyncGenerator<readonly ProviderEvent[]> {
  let timer: OnTime | undefined;
  const fired = new Promise<"timer">((resolve) => (timer = onTime(afterMs, () => resolve("timer"))));
  const held = new Map<Contender<T>, (readonly ProviderEvent[])[]>([[first, []]]);
  let pending = new Map<Contender<T>, Promise<Pull<T>>>([[first, pull(first)]]);
  let second: Contender<T> | undefined;
  let current: Contender<T> | undefined;
  try {
    for (;;) {
      const race: Promise<Pull<T> | "timer">[] = [...pending.values()];
      if (!second) race.push(fired);
      const r = await Promise.race(race);
      if (r === "timer") {
        second = startSecond();
        if (!second) {
          // Nothing to hedge with: wait for the first alone.
          second = first;
          continue;
        }
        held.set(second, []);
        pending.set(second, pull(second));
        continue;
      }
      pending.delete(r.who);
      const rivals = [...pending.keys()];
      if ("error" in r) {
        if (rivals.length === 0) throw r.error;
        // One contender failed before any token: the other carries on, and
        // is the attempt from now on.
        onLoser(r.who.tag, r.error);
        held.delete(r.who);
        state.winner = (rivals[0] as Contender<T>).tag;
        current = rivals[0];
        continue;
      }
      if (r.result.done || hasToken(r.result.value)) {
        state.winner = r.who.tag;
        current = r.who;
        for (const loser of rivals) {
          const read = pending.get(loser);
          pending.delete(loser);
          onLoser(loser.tag, undefined);
          loser.cancel();
          // Let the cancelled read settle, then close the iterator.
          void read?.then(() => loser.events.return?.(undefined));
        }
        for (const ev of held.get(r.who) ?? []) yield ev;
        if (r.result.done) return;
        yield r.result.value;
        for (let next = await r.who.events.next(); !next.done; next = await r.who.events.next()) yield next.value;
        return;
      }
      held.get(r.who)?.push(r.result.value);
      pending.set(r.who, pull(r.who));
    }
  } finally {
    timer?.cancel();
    for (const c of pending.keys()) c.cancel();
    pending = new Map();
    // Ends the winner's upstream call too if the consumer stopped early.
    if (current) void current.events.return?.(undefined);
  }
}
