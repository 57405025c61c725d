/**
 * Images travel as URLs or bytes; vendors want one or the other. These
 * helpers convert between data: URLs and base64 payloads.
 */

/** Encodes bytes as a data: URL. */
export function dataUrl(mediaType: string, data: Uint8Array): string {
  return `data:${mediaType};base64,${Buffer.from(data).toString("base64")}`;
}

/**
 * Whether a URL is a base64 data: URL as parseDataUrl reads it, from its head
 * only: one can be megabytes long.
 */
export function isBase64DataUrl(url: string): boolean {
  const comma = url.slice(0, 256).indexOf(",");
  return comma > 0 && /^data:[^;,]+;base64$/.test(url.slice(0, comma));
}

/** Splits a base64 data: URL into its media type and payload, or undefined. */
export function parseDataUrl(url: string): { mediaType: string; base64: string } | undefined {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return m ? { mediaType: m[1] as string, base64: m[2] as string } : undefined;
}

/** The base64 payload and media type of an image given by bytes. */
export function base64Of(mediaType: string, data: Uint8Array): { mediaType: string; base64: string } {
  return { mediaType, base64: Buffer.from(data).toString("base64") };
}
