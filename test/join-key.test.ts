import assert from "node:assert/strict";
import { test } from "node:test";
import { keyJoiner } from "../src/join-key.js";

test("joined keys: the same pair gives the same key, any pair joins right, past the cache's bounds too", () => {
  const join = keyJoiner("\n");
  assert.equal(join("route", "ok"), "route\nok");
  assert.equal(join("route", "ok"), join(`rou${"te"}`, "o" + "k"));
  // More distinct parts than the cache keeps: every key is still the plain join.
  for (let i = 0; i < 5000; i++) assert.equal(join(`a${i % 4200}`, `b${i}`), `a${i % 4200}\nb${i}`);
  for (let i = 0; i < 1500; i++) assert.equal(join("one", `m${i}`), `one\nm${i}`);
});
