import assert from "node:assert/strict";
import { test } from "node:test";
import { CommitPolicy } from "../../gen/detour/v1/chat_pb.js";
import { deliver, delivered, deliveredText, newDelivery, resume } from "../../src/gateway/commit.js";
import { userRequest } from "../helpers/requests.js";

test("a long delivery keeps its text in a few joined pieces, and a continuation gets all of it", () => {
  const d = newDelivery();
  assert.equal(delivered(d), false);
  let expected = "";
  for (let i = 0; i < 1000; i++) {
    const text = `tok${i} `;
    deliver(d, { type: "text", text });
    expected += text;
  }
  assert.ok(d.parts.length < 64, `the pieces are joined as they come (${d.parts.length} held)`);
  assert.equal(d.chars, expected.length);
  assert.equal(deliveredText(d), expected);
  const r = resume(CommitPolicy.CONTINUE, d, userRequest("m", "hi"), true);
  assert.equal(r.keptChars, expected.length);
  const prefix = r.request.messages.at(-1)?.content[0]?.part;
  assert.equal(prefix?.case === "text" ? prefix.value : "", expected);
});
