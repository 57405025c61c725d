import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { parseAllDocuments, parse } from "yaml";
import { parseDuration } from "../../src/config/duration.js";
import { parseConfig } from "../../src/config/load.js";

const ROOT = new URL("../../deploy/", import.meta.url).pathname;

type Doc = { kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: Record<string, unknown>; data?: Record<string, string> } & Record<string, unknown>;

async function kustomize(dir: string): Promise<Doc[]> {
  const k = parse(await readFile(join(dir, "kustomization.yaml"), "utf8")) as { resources: string[] };
  const docs: Doc[] = [];
  for (const r of k.resources) {
    const path = join(dir, r);
    assert.ok(existsSync(path), `${path} is listed in kustomization.yaml and exists`);
    if (existsSync(join(path, "kustomization.yaml"))) docs.push(...(await kustomize(path)));
    else for (const d of parseAllDocuments(await readFile(path, "utf8"))) docs.push(d.toJS() as Doc);
  }
  return docs;
}

const find = (docs: Doc[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name);

test("the Kubernetes manifests hold their invariants", async () => {
  const docs = await kustomize(join(ROOT, "k8s/overlays/example"));
  const deploy = find(docs, "Deployment", "detour") as Doc & { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { terminationGracePeriodSeconds: number; containers: { image: string; ports: { name: string; containerPort: number }[]; readinessProbe: { grpc: { port: number } }; livenessProbe: { grpc: { port: number } }; lifecycle: { preStop: { sleep: { seconds: number } } } }[] } } } };
  assert.ok(deploy, "the detour Deployment");
  const pod = deploy.spec.template;
  const c = pod.spec.containers[0]!;
  const ports = c.ports.map((p) => p.containerPort);
  assert.ok(ports.includes(c.readinessProbe.grpc.port) && ports.includes(c.livenessProbe.grpc.port), "probes target a container port");

  // The config the pods load is valid, and the grace period outlasts preStop + drain.
  const config = parseConfig(find(docs, "ConfigMap", "detour-config")?.data?.["detour.yaml"] ?? "", "configmap", { env: {} });
  const drainS = parseDuration(config.server?.drainTimeout || "10s") / 1000;
  assert.ok(pod.spec.terminationGracePeriodSeconds > drainS + c.lifecycle.preStop.sleep.seconds, "grace period > preStop + drain timeout");

  // Every selector matches the labels of what it selects.
  for (const d of docs) {
    const sel = (d.spec as { selector?: Record<string, string> | { matchLabels: Record<string, string> } } | undefined)?.selector;
    if (!sel) continue;
    const labels = "matchLabels" in sel ? sel.matchLabels : sel;
    const pods = docs.filter((x) => x.kind === "Deployment").map((x) => (x.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels);
    assert.ok(pods.some((l) => Object.entries(labels as Record<string, string>).every(([k, v]) => l[k] === v)), `${d.kind}/${d.metadata.name} selects some pods`);
    if (d.kind === "Deployment") assert.deepEqual(labels, Object.fromEntries(Object.keys(labels as object).map((k) => [k, (d.spec as typeof deploy.spec).template.metadata.labels[k]])), "a Deployment's selector matches its template");
  }
  const hpa = find(docs, "HorizontalPodAutoscaler", "detour") as Doc & { spec: { scaleTargetRef: { kind: string; name: string } } };
  assert.ok(find(docs, hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name), "the HPA scales an existing target");

  // Images are pinned, and the mesh knows the port speaks h2c.
  for (const d of docs.filter((x) => x.kind === "Deployment")) {
    for (const ct of (d.spec as typeof deploy.spec).template.spec.containers) {
      assert.match(ct.image, /(:(?!latest$)[\w.-]+|@sha256:[0-9a-f]{64})$/, `${ct.image} is pinned`);
    }
  }
  const svc = find(docs, "Service", "detour") as Doc & { spec: { ports: { appProtocol?: string; targetPort: string }[] } };
  assert.ok(svc.spec.ports.every((p) => p.appProtocol && ports.length > 0 && c.ports.some((cp) => cp.name === p.targetPort)), "service ports have appProtocol and existing targets");
  assert.equal((deploy.spec as unknown as { replicas: number }).replicas, 3, "the base keeps 3 replicas (the overlay patch is applied by kustomize)");
});

test("the compose file runs Detour with Jaeger over OTLP", async () => {
  const compose = parse(await readFile(join(ROOT, "docker-compose.yaml"), "utf8")) as { services: Record<string, { image?: string; build?: { context: string; dockerfile: string }; environment?: Record<string, string> }> };
  const detour = compose.services["detour"];
  assert.ok(detour?.build && existsSync(join(ROOT, detour.build.context, detour.build.dockerfile)), "the Dockerfile exists");
  assert.equal(detour.environment?.["OTEL_EXPORTER_OTLP_ENDPOINT"], "http://jaeger:4318");
  assert.match(compose.services["jaeger"]?.image ?? "", /^jaegertracing\/jaeger:\d/);
  const dockerfile = await readFile(join(dirname(ROOT), "Dockerfile"), "utf8");
  assert.match(dockerfile, /^FROM node:24-slim/m);
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /^HEALTHCHECK /m);
  const { scripts } = JSON.parse(await readFile(join(dirname(ROOT), "package.json"), "utf8")) as { scripts: Record<string, string> };
  const lines = dockerfile.split("\n");
  assert.ok(lines.includes(`RUN npx ${scripts["build"]}`), "a build stage builds as npm run build does");
  const start = (scripts["start"] ?? "").split(" ");
  assert.ok(lines.includes(`ENTRYPOINT [${start.map((w) => JSON.stringify(w)).join(", ")}]`), "the image runs what npm start runs");
});
