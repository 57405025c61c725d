/**
 * Whether a fallback saved a request: it succeeded, and the target that
 * answered is not the one the chain started with. A breaker that skipped the
 * first target counts as that target failing; a retry of the same target
 * that then answered does not count as a save.
 */
import { AttemptOutcome } from "../../gen/detour/v1/result_pb.js";
import type { RequestRecord } from "../gateway/observer.ts";

/** True when the request was answered only because a fallback took over. */
export function savedByFallback(rec: RequestRecord): boolean {
  if (rec.outcome !== "ok" || !rec.servedBy) return false;
  const first = rec.attempts.find((a) => a.outcome !== AttemptOutcome.SKIPPED || a.reason === "BREAKER_OPEN");
  if (!first?.target) return false;
  return first.target.provider !== rec.servedBy.provider || first.target.model !== rec.servedBy.model;
}
