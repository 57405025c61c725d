import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { AttemptOutcome, AttemptSchema, Decision, type Attempt } from "../../gen/detour/v1/result_pb.js";
import type { RequestRecord } from "../../src/gateway/observer.js";
import { createStats, RECENT_CAPACITY } from "../../src/stats/stats.js";

const ref = (model: string) => ({ $typeName: "detour.v1.TargetRef" as const, provider: "sim", model });

function hop(model: string, outcome: AttemptOutcome, reason = "", extra: Partial<Omit<Attempt, "$typeName" | "$unknown">> = {}): Attempt {
  return create(AttemptSchema, {
    target: ref(model),
    outcome,
    reason,
    message: reason ? `the upstream said no to "a secret prompt"` : "",
    decision: outcome === AttemptOutcome.SUCCEEDED ? Decision.RETURN : Decision.FALLBACK,
    latency: durationFromMs(100),
    ...extra,
  });
}

let n = 0;
function record(endedAt: number, attempts: Attempt[], extra: Partial<RequestRecord> = {}): RequestRecord {
  const served = attempts.find((a) => a.outcome === AttemptOutcome.SUCCEEDED)?.target;
  return {
    id: `req-${++n}`,
    route: "main",
    model: "main",
    streaming: false,
    outcome: served ? "ok" : "UPSTREAM_UNAVAILABLE",
    message: "",
    attempts,
    servedBy: served,
    usage: undefined,
    answerUsd: 0.002,
    wastedUsd: attempts.filter((a) => a.outcome !== AttemptOutcome.SUCCEEDED).reduce((s, a) => s + a.costUsd, 0),
    latencyMs: 250,
    endedAt,
    traceId: "",
    spanId: "",
    ...extra,
  };
}

describe("stats for the dashboard", () => {
  test("saved-by counts a breaker skip as the first target failing, and wasted cost is per target", () => {
    let now = 1_000_000;
    const stats = createStats(15 * 60_000, () => now);
    stats.onRequest(record(now, [hop("broken", AttemptOutcome.FAILED, "STREAM_DROPPED", { costUsd: 0.01 }), hop("steady", AttemptOutcome.SUCCEEDED, "", { costUsd: 0.002 })]));
    stats.onRequest(record(now, [hop("broken", AttemptOutcome.SKIPPED, "BREAKER_OPEN"), hop("steady", AttemptOutcome.SUCCEEDED, "", { costUsd: 0.002 })]));
    // A retry of the same target that then answers is not a save.
    stats.onRequest(record(now, [hop("steady", AttemptOutcome.FAILED, "RATE_LIMITED", { decision: Decision.RETRY }), hop("steady", AttemptOutcome.SUCCEEDED, "", { retry: 1 })]));
    now += 1000;
    const main = stats.get("main").routes[0];
    assert.equal(main?.requests, 3n);
    assert.equal(main?.savedByFallback, 2n);
    assert.equal(main?.fallbackCount, 2n, "two hops from one target to the next; the retry is not a fallback");
    const broken = main?.targets.find((t) => t.target?.model === "broken");
    const steady = main?.targets.find((t) => t.target?.model === "steady");
    assert.equal(broken?.skipped, 1n);
    assert.equal(broken?.failed, 1n);
    assert.equal(broken?.wastedUsd, 0.01);
    assert.equal(steady?.saved, 2n);
    assert.equal(steady?.wastedUsd, 0);
    assert.equal(main?.cost?.wastedUsd, 0.01);
  });

  test("the series counts attempts per target in 5 s steps across the window, oldest first", () => {
    let now = 10_000_000;
    const stats = createStats(60_000, () => now);
    stats.onRequest(record(now - 30_000, [hop("broken", AttemptOutcome.FAILED, "UPSTREAM_UNAVAILABLE"), hop("steady", AttemptOutcome.SUCCEEDED)]));
    stats.onRequest(record(now, [hop("broken", AttemptOutcome.SKIPPED, "BREAKER_OPEN"), hop("steady", AttemptOutcome.SUCCEEDED)]));
    stats.onRequest(record(now, [hop("broken", AttemptOutcome.SKIPPED, "BREAKER_OPEN"), hop("steady", AttemptOutcome.SUCCEEDED)]));
    const res = stats.get();
    assert.equal(Number(res.seriesStep?.seconds), 5);
    const start = timestampMs(res.seriesStart!);
    const series = res.routes[0]?.series ?? [];
    const steady = series.find((s) => s.target?.model === "steady");
    const broken = series.find((s) => s.target?.model === "broken");
    assert.equal(steady?.served.length, 12, "60 s of 5 s steps");
    assert.equal(steady?.served.at(-1), 2, "the current step is last");
    assert.equal(broken?.skipped.at(-1), 2);
    const i = Math.floor((now - 30_000 - start) / 5000);
    assert.equal(broken?.failed[i], 1, "a request lands in the step it ended in");
    assert.equal(steady?.served.reduce((a, b) => a + b, 0), 3);

    now += 45_000;
    const later = stats.get().routes[0]?.series.find((s) => s.target?.model === "steady");
    assert.equal(later?.served.reduce((a, b) => a + b, 0), 2, "steps older than the window fall out");
  });

  test("recent requests: newest first, by route, bounded, and without attempt messages", () => {
    const now = 5_000_000;
    const stats = createStats(60_000, () => now);
    for (let i = 0; i < RECENT_CAPACITY + 5; i++) {
      stats.onRequest(record(now, [hop("broken", AttemptOutcome.FAILED, "UPSTREAM_UNAVAILABLE", { upstreamStatus: 503 }), hop("steady", AttemptOutcome.SUCCEEDED)], { id: `r${i}` }));
    }
    stats.onRequest(record(now, [hop("fast", AttemptOutcome.SUCCEEDED)], { id: "direct", route: "", model: "sim/fast" }));
    const all = stats.recent(undefined, 1000);
    assert.equal(all.length, RECENT_CAPACITY);
    assert.equal(all[0]?.id, "direct");
    assert.equal(all[1]?.id, `r${RECENT_CAPACITY + 4}`);
    const main = stats.recent("main", 3);
    assert.deepEqual(main.map((r) => r.id), [`r${RECENT_CAPACITY + 4}`, `r${RECENT_CAPACITY + 3}`, `r${RECENT_CAPACITY + 2}`]);
    assert.equal(main[0]?.savedByFallback, true);
    assert.equal(main[0]?.servedBy?.model, "steady");
    assert.deepEqual(main[0]?.attempts.map((a) => [a.target?.model, a.reason, a.upstreamStatus, a.message]), [
      ["broken", "UPSTREAM_UNAVAILABLE", 503, ""],
      ["steady", "", 0, ""],
    ]);
    assert.deepEqual(stats.recent("sim/fast", 5).map((r) => [r.id, r.route, r.model]), [["direct", "", "sim/fast"]], "direct calls are listed under their provider/model");
  });
});

describe("stats with names callers choose", () => {
  test("refused names share one entry, and direct calls to any allowed model stay bounded", () => {
    const now = 1_000_000;
    const stats = createStats(15 * 60_000, () => now);
    for (let i = 0; i < 500; i++) stats.onRequest(record(now, [], { route: "", model: `sim/bogus-${i}`, outcome: "UNKNOWN_MODEL" }));
    assert.deepEqual(stats.get().routes.map((r) => r.route), ["other"]);
    for (let i = 0; i < 3_000; i++) stats.onRequest(record(now, [hop(`ft-${i}`, AttemptOutcome.SUCCEEDED)], { route: "", model: `sim/ft-${i}` }));
    const routes = stats.get().routes;
    assert.ok(routes.length <= 1_025, `${routes.length} entries`);
    const targets = new Set(routes.flatMap((r) => r.targets.map((t) => `${t.target?.provider}/${t.target?.model}`)));
    assert.ok(targets.size <= 1_025, `${targets.size} targets`);
    assert.ok(targets.has("sim/other"), "the rest are folded into sim/other");
  });
});
