/**
 * Model names that go into an upstream URL's path (Gemini's models/{model},
 * Azure's deployments/{name}). A name is checked against the vendor's own
 * shape and its path segments are percent-encoded, so a caller's "model"
 * can never walk to another path on the vendor's host with the gateway's key.
 */
import { GatewayError, shown } from "../errors.ts";
import type { TargetRef } from "../../gen/detour/v1/result_pb.js";

/** Gemini model IDs: "gemini-2.5-flash", "models/gemini-2.0-flash-001", "tunedModels/my-tuned-1". */
const GEMINI_MODEL = /^(?:(models|tunedModels)\/)?([A-Za-z0-9][A-Za-z0-9._-]*)$/;

/** Azure OpenAI deployment names: letters, digits, ".", "_" and "-". */
const AZURE_DEPLOYMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function refused(hop: TargetRef, model: string, allowed: string): GatewayError {
  return new GatewayError("INVALID_REQUEST", `model: ${shown(model)} is not a ${hop.provider} model name; it may hold ${allowed}`, { field: "model", hop });
}

/** The "models/{id}" or "tunedModels/{id}" path of a Gemini model, encoded; throws INVALID_REQUEST for any other shape. */
export function geminiModelPath(model: string, hop: TargetRef): string {
  const m = GEMINI_MODEL.exec(model);
  if (!m) throw refused(hop, model, 'letters, digits, ".", "_" and "-", after an optional "models/" or "tunedModels/"');
  return `${m[1] ?? "models"}/${encodeURIComponent(m[2] as string)}`;
}

/** An Azure deployment name as a path segment, encoded; throws INVALID_REQUEST for any other shape. */
export function azureDeploymentSegment(deployment: string, hop: TargetRef): string {
  if (!AZURE_DEPLOYMENT.test(deployment)) throw refused(hop, deployment, 'letters, digits, ".", "_" and "-"');
  return encodeURIComponent(deployment);
}
