/**
 * The timer behind ttft_timeout and hedging: it must never fire before its
 * moment, must fire once, and must stay silent once cancelled, whether it is
 * still asleep or already turning the loop just before the moment.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { LEAD_MS, onTime } from "../../src/gateway/on-time.ts";

describe("onTime (the latency-threshold timer)", () => {
  it("fires once, and never before its moment", async () => {
    for (const ms of [0, 1, LEAD_MS, 15]) {
      const start = performance.now();
      let fired = 0;
      let at = 0;
      await new Promise<void>((resolve) =>
        onTime(ms, () => {
          fired++;
          at = performance.now();
          resolve();
        }),
      );
      await sleep(5);
      assert.equal(fired, 1, `fired once for ${ms} ms`);
      assert.ok(at - start >= ms, `fired after ${at - start} ms, asked for ${ms}`);
    }
  });

  it("fires every one of many reached at once (past the cap on turning the loop), none early", async () => {
    const start = performance.now();
    const at: number[] = [];
    const cancelled = Array.from({ length: 5 }, () => onTime(200, () => at.push(-1)));
    await Promise.all(Array.from({ length: 30 }, (_, i) => new Promise<void>((resolve) => onTime(20 + (i % 3), () => (at.push(performance.now() - start), resolve())))));
    for (const t of cancelled) t.cancel();
    await sleep(20);
    assert.equal(at.length, 30);
    assert.ok(at.every((t) => t >= 20), `fired at ${at.map((t) => t.toFixed(2)).join(", ")} ms`);
  });

  it("stays silent once cancelled while asleep", async () => {
    let fired = false;
    const t = onTime(20, () => (fired = true));
    await sleep(5);
    t.cancel();
    await sleep(40);
    assert.equal(fired, false);
  });

  it("stays silent once cancelled in the last moments before it fires", async () => {
    // Turn the loop until just before the moment (the timer is then waiting
    // turn by turn, unless its early wake-up came late), and cancel there:
    // this loop's own turns running meanwhile show the timer's leave room
    // for other work. A turn that overshoots the moment proves nothing: try again.
    let checked = 0;
    for (let tries = 0; tries < 10 && checked === 0; tries++) {
      let fired = false;
      const before = performance.now();
      const t = onTime(30, () => (fired = true));
      const at = await new Promise<number>((resolve) => {
        const turn = () => {
          const now = performance.now();
          if (now - before >= 29.3) resolve(now);
          else setImmediate(turn);
        };
        turn();
      });
      t.cancel();
      await sleep(30);
      if (at - before >= 30) continue;
      assert.equal(fired, false, `cancelled ${(at - before).toFixed(2)} ms in, before its 30 ms`);
      checked++;
    }
    assert.equal(checked, 1, "no try cancelled inside the last moments");
  });
});
