/**
 * What a value really costs in V8's heap, for the memory store's byte bound.
 * Counting only text lengths undercounted a stored record about fourfold:
 * each protobuf message is an object with a header and a slot per field,
 * numbers beyond 31 bits are boxed, strings carry a header and take two
 * bytes a character once any is outside Latin-1. These are estimates on a
 * 64-bit build without pointer compression (Node's), on the high side.
 */

/** Bytes of a JS object's header (map, properties, elements) and per field. */
const OBJECT = 32;
const FIELD = 16;
/** A string's header; characters follow, rounded up to 8 bytes. */
const STRING = 16;
/** A boxed number or a bigint's header. */
const BOXED = 16;
/** A JSArray plus its backing store's header. */
const ARRAY = 48;
/** An Error's own internal fields beyond its properties. */
const ERROR = 96;

const NOT_LATIN1 = /[^\u0000-\u00ff]/;

/** The heap bytes of a string. */
export function stringSize(s: string): number {
  const chars = NOT_LATIN1.test(s) ? 2 * s.length : s.length;
  return STRING + ((chars + 7) & ~7);
}

/** The heap bytes `v` holds, counting what it shares with nothing outside. */
export function heapSize(v: unknown, seen: WeakSet<object> = new WeakSet()): number {
  switch (typeof v) {
    case "string":
      return stringSize(v);
    case "number":
      return Number.isInteger(v) && Math.abs(v) < 2 ** 30 ? 0 : BOXED;
    case "bigint":
      return BOXED + 8;
    case "object": {
      if (v === null || seen.has(v)) return 0;
      seen.add(v);
      if (ArrayBuffer.isView(v)) return OBJECT * 3 + v.byteLength;
      if (Array.isArray(v)) {
        let n = ARRAY + 8 * v.length;
        for (const x of v) n += heapSize(x, seen);
        return n;
      }
      let n = v instanceof Error ? OBJECT + ERROR : OBJECT;
      for (const key of Object.keys(v)) {
        // Property names live in the shared hidden class, not the object;
        // $typeName strings are shared by every message of a type.
        n += FIELD;
        if (key !== "$typeName") n += heapSize((v as Record<string, unknown>)[key], seen);
      }
      if (v instanceof Error) n += heapSize(v.message, seen);
      return n;
    }
    default:
      return 0;
  }
}

/** Per entry of a Map or Set: its hash table slots, with the table's slack. */
export const MAP_ENTRY = 64;
