/**
 * A timer for the latency thresholds that move a request to its next target
 * (ttft_timeout, a hedge's start), made to fire on time. A plain setTimeout
 * fires 0.3–0.5 ms late on this VM (libuv's millisecond timeouts, the
 * kernel's timer slack, a parked vCPU waking). This one sleeps until LEAD_MS
 * before the moment, then turns the event loop (setImmediate: I/O and other
 * timers still run between turns) until the moment comes. Its cost is at most
 * LEAD_MS of CPU, paid only when a threshold is actually reached; when many
 * are reached at once (an upstream that hangs for everyone, before its
 * breaker opens), those beyond MAX_TURNING fire from a plain timer instead,
 * so a hang storm cannot keep the loop from sleeping.
 */
export const LEAD_MS = 2;
const MAX_TURNING = 8;
let turning = 0;

/** A started on-time timer. */
export interface OnTime {
  cancel(): void;
}

/** Calls `fire` `ms` from now (performance.now), or never once cancelled. */
export function onTime(ms: number, fire: () => void): OnTime {
  const due = performance.now() + ms;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const turn = () => {
    if (performance.now() < due) {
      immediate = setImmediate(turn);
      return;
    }
    immediate = undefined;
    turning--;
    fire();
  };
  // A timer's millisecond counts from the loop's cached clock, so it can
  // wake a little before `due`: each wake checks the real time.
  const wake = () => {
    timer = undefined;
    const left = due - performance.now();
    if (left <= 0) fire();
    else if (turning >= MAX_TURNING) timer = setTimeout(wake, left);
    else {
      turning++;
      turn();
    }
  };
  timer = setTimeout(wake, Math.max(0, ms - LEAD_MS));
  return {
    cancel() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (immediate) {
        clearImmediate(immediate);
        immediate = undefined;
        turning--;
      }
    },
  };
}
