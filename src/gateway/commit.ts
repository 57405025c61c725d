/**
 * What a stream has delivered to its caller, and how a later target picks up
 * after a failure once output was delivered (the route's commit policy):
 *
 * - fail: the stream ends with a typed error saying how much was delivered;
 * - continue: the next target continues the answer — given the delivered
 *   text as an assistant prefix where its model accepts prefill, otherwise
 *   asked to continue — and the hop event says so;
 * - restart: a hop event with `rewind` tells the caller to discard the text it
 *   has, and the answer starts over.
 *
 * A tool call whose arguments were delivered whole is kept either way: it is
 * listed in the hop event and never re-emitted by a later target. A tool call
 * cut off mid-arguments cannot be continued, so it forces a rewind.
 */
import { create } from "@bufbuild/protobuf";
import { CommitPolicy, MessageSchema, Role, type CompleteRequest } from "../../gen/detour/v1/chat_pb.js";
import type { ProviderEvent } from "../providers/types.ts";
import type { Plan } from "./plan.ts";

/** A tool call as delivered so far. */
interface DeliveredCall {
  id: string;
  name: string;
  args: string;
}

/** The output a stream has put on the wire. */
export interface Delivery {
  /**
   * The delivered text in pieces, joined every JOIN_EVERY pieces: a string
   * grown by += keeps every token's string plus a node per append (~50
   * bytes a token), which a long stream would hold for its whole life.
   */
  readonly parts: string[];
  /** Characters delivered. */
  chars: number;
  readonly calls: Map<number, DeliveredCall>;
}

const JOIN_EVERY = 64;

/** A delivery holding `text` and `calls` (empty by default). */
export function newDelivery(text = "", calls = new Map<number, DeliveredCall>()): Delivery {
  return { parts: text ? [text] : [], chars: text.length, calls };
}

/** The text delivered so far, as one string. */
export function deliveredText(d: Delivery): string {
  if (d.parts.length > 1) d.parts.splice(0, d.parts.length, d.parts.join(""));
  return d.parts[0] ?? "";
}

/** Records one delivered event. */
export function deliver(d: Delivery, ev: ProviderEvent): void {
  if (ev.type === "text") {
    d.parts.push(ev.text);
    d.chars += ev.text.length;
    if (d.parts.length >= JOIN_EVERY) deliveredText(d);
  } else if (ev.type === "tool_call") {
    const c = d.calls.get(ev.index) ?? { id: "", name: "", args: "" };
    if (ev.id) c.id = ev.id;
    if (ev.name) c.name = ev.name;
    c.args += ev.arguments;
    d.calls.set(ev.index, c);
  }
}

/** True once anything reached the caller. */
export function delivered(d: Delivery): boolean {
  return d.chars > 0 || d.calls.size > 0;
}

function whole(c: DeliveredCall): boolean {
  try {
    JSON.parse(c.args);
    return c.name !== "";
  } catch {
    return false;
  }
}

/** How the next attempt resumes after a failure with output delivered. */
export interface Resumption {
  readonly rewind: boolean;
  /** Tool calls kept, by ID, in delivery order. */
  readonly kept: DeliveredCall[];
  /** The request the next attempt sends. */
  readonly request: CompleteRequest;
  /** Characters the caller keeps (0 after a rewind). */
  readonly keptChars: number;
}

const CONTINUE_PROMPT = "Continue your previous answer exactly where it stopped. Do not repeat anything already written.";

/** Works out how the next target resumes, under `policy` (continue or restart). */
export function resume(policy: CommitPolicy, d: Delivery, original: CompleteRequest, nextPrefill: boolean): Resumption {
  const calls = [...d.calls.values()];
  const kept = calls.filter(whole);
  const rewind = policy === CommitPolicy.RESTART || kept.length < calls.length;
  if (rewind || d.chars === 0) return { rewind, kept, request: original, keptChars: rewind ? 0 : d.chars };
  const prefix = create(MessageSchema, { role: Role.ASSISTANT, content: [{ part: { case: "text", value: deliveredText(d) } }] });
  const messages = nextPrefill
    ? [...original.messages, prefix]
    : [...original.messages, prefix, create(MessageSchema, { role: Role.USER, content: [{ part: { case: "text", value: CONTINUE_PROMPT } }] })];
  return { rewind, kept, request: { ...original, messages }, keptChars: d.chars };
}

/**
 * Filters a later attempt's tool calls so kept ones are not emitted again:
 * while calls were kept, each new call is held until it is whole, dropped if
 * it repeats a kept call (same name and arguments), and otherwise emitted
 * once, numbered after the kept ones.
 */
export function createToolCallGuard(kept: readonly DeliveredCall[]): { filter(ev: ProviderEvent): readonly ProviderEvent[] } {
  if (kept.length === 0) {
    // Nothing kept (every stream until a hop that kept calls): each event
    // passes, in one array reused by every call — valid until the next one.
    const one: ProviderEvent[] = [];
    return {
      filter(ev) {
        one[0] = ev;
        return one;
      },
    };
  }
  const seen = new Set(kept.map((c) => key(c.name, c.args)));
  const pending = new Map<number, DeliveredCall>();
  let nextIndex = kept.length;
  const flush = (index: number): ProviderEvent[] => {
    const c = pending.get(index);
    pending.delete(index);
    if (!c || seen.has(key(c.name, c.args))) return [];
    seen.add(key(c.name, c.args));
    return [{ type: "tool_call", index: nextIndex++, id: c.id, name: c.name, arguments: c.args }];
  };
  return {
    /** Events to emit for `ev`. */
    filter(ev: ProviderEvent): ProviderEvent[] {
      if (ev.type !== "tool_call") {
        if (ev.type === "finish") return [...[...pending.keys()].flatMap(flush), ev];
        return [ev];
      }
      const out = ev.id !== undefined ? [...pending.keys()].filter((i) => i !== ev.index).flatMap(flush) : [];
      const c = pending.get(ev.index) ?? { id: "", name: "", args: "" };
      if (ev.id) c.id = ev.id;
      if (ev.name) c.name = ev.name;
      c.args += ev.arguments;
      pending.set(ev.index, c);
      return out;
    },
  };
}

function key(name: string, args: string): string {
  try {
    return `${name}\u0000${JSON.stringify(JSON.parse(args))}`;
  } catch {
    return `${name}\u0000${args}`;
  }
}

/** True once the held output fills the route's commit buffer (or it has none): the stream may go live. */
export function commitReady(buffer: Plan["commitBuffer"], heldTokens: number, firstTokenAt: number | undefined, now: number): boolean {
  if (buffer.tokens === 0 && buffer.ms === 0) return true;
  if (buffer.tokens > 0 && heldTokens > buffer.tokens) return true;
  return buffer.ms > 0 && firstTokenAt !== undefined && now - firstTokenAt >= buffer.ms;
}
