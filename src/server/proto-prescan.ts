/**
 * A pass over a protobuf binary message before it is decoded: counts the
 * occurrences of the repeated fields a shape limits by reading tags and
 * lengths only, stepping into a submessage only when it leads to a limit.
 */
import { tooManyItems, type Shape } from "./body-shape.ts";
import type { Breach } from "./json-prescan.ts";

/** The first limit `bytes` break, or undefined; malformed input is left to the decoder. */
export function prescanProto(bytes: Uint8Array, shape: Shape | undefined, depth = 0): Breach | undefined {
  if (!shape || depth > 32) return undefined;
  const counts = new Map<number, number>();
  let at = 0;
  while (at < bytes.length) {
    const tag = varint(bytes, at);
    if (!tag) return undefined;
    at = tag.next;
    const number = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    let start = at;
    if (wire === 0) {
      const v = varint(bytes, at);
      if (!v) return undefined;
      at = v.next;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const len = varint(bytes, at);
      if (!len) return undefined;
      start = len.next;
      at = start + len.value;
    } else return undefined;
    if (at > bytes.length) return undefined;
    const node = shape.byNumber.get(number);
    if (!node) continue;
    if (node.maxItems !== undefined) {
      const n = (counts.get(number) ?? 0) + 1;
      if (n > node.maxItems) return { field: node.path, problem: tooManyItems(node) };
      counts.set(number, n);
    }
    if (wire === 2 && node.shape) {
      const inner = prescanProto(bytes.subarray(start, at), node.shape, depth + 1);
      if (inner) return inner;
    }
  }
  return undefined;
}

function varint(bytes: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let mul = 1;
  for (let i = at; i < bytes.length && i < at + 10; i++) {
    const b = bytes[i] as number;
    value += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}
