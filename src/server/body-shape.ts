/**
 * Where a request message's repeated fields have a most-items rule
 * (buf.validate `repeated.max_items`), read once from the descriptors, so a
 * body can be checked against them before it is decoded: decoding a 6 MB
 * body of 200,000 messages blocks the loop for most of a second just to
 * learn that 10,000 is the limit.
 */
import { getOption, type DescMessage } from "@bufbuild/protobuf";
import { field as validateRules } from "../../gen/buf/validate/validate_pb.js";

/** A field on the way to a limit. */
export interface ShapeNode {
  /** The field's path as errors name it ("request.messages"). */
  readonly path: string;
  /** Most items, for a repeated field that has a limit. */
  readonly maxItems?: number;
  /** The fields of its message (of each item, for a list), when any leads to a limit. */
  readonly shape?: Shape;
}

/** A message's fields that lead to a limit, by JSON name, proto name and number. */
export interface Shape {
  readonly byName: ReadonlyMap<string, ShapeNode>;
  readonly byNumber: ReadonlyMap<number, ShapeNode>;
}

/** The limits under `schema`, or undefined when it has none. */
export function shapeOf(schema: DescMessage, prefix = "", visiting: Set<string> = new Set()): Shape | undefined {
  // Recursive types (google.protobuf.Struct and Value) cannot hold a limit of their own.
  if (visiting.has(schema.typeName) || schema.typeName.startsWith("google.protobuf.")) return undefined;
  visiting.add(schema.typeName);
  const byName = new Map<string, ShapeNode>();
  const byNumber = new Map<number, ShapeNode>();
  for (const f of schema.fields) {
    const path = prefix + f.name;
    const rules = getOption(f, validateRules);
    const max = f.fieldKind === "list" && rules.type.case === "repeated" ? rules.type.value.maxItems : undefined;
    const inner = f.message ? shapeOf(f.message, `${path}.`, visiting) : undefined;
    if (max === undefined && inner === undefined) continue;
    const node: ShapeNode = { path, ...(max !== undefined ? { maxItems: Number(max) } : {}), ...(inner ? { shape: inner } : {}) };
    byName.set(f.jsonName, node).set(f.name, node);
    byNumber.set(f.number, node);
  }
  visiting.delete(schema.typeName);
  return byName.size > 0 ? { byName, byNumber } : undefined;
}

/** A shape from explicit names, for bodies that are not proto JSON (the OpenAI API). */
export function namedShape(nodes: Record<string, ShapeNode>): Shape {
  return { byName: new Map(Object.entries(nodes)), byNumber: new Map() };
}

/** The problem with a list over its limit, worded for the caller. */
export function tooManyItems(node: ShapeNode): string {
  return `has more than ${node.maxItems} items, the most a request may carry`;
}

/**
 * Bodies smaller than this are decoded without a scan first: a list over
 * its limit in so few bytes costs the decode well under a millisecond, and
 * the engine's limits refuse it after, naming the field. The scan is for
 * the bodies whose decode would block the loop.
 */
export const PRESCAN_MIN_BYTES = 64 * 1024;
