/**
 * The OpenAI-compatible API takes JSON bodies only when they say so. A web
 * page can POST text/plain (or a typeless Blob) to any address without a CORS
 * preflight; read as JSON whatever it says, such a body lets any site a user
 * visits spend an open gateway's credits blind.
 */
import { GatewayError } from "../errors.ts";

/** application/json, with or without parameters, or a JSON suffix type (application/x+json). */
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** True when the Content-Type header declares a JSON body. */
export function isJsonContentType(value: string | undefined): boolean {
  return value !== undefined && JSON_TYPE.test(value.trim());
}

/** Throws UNSUPPORTED_MEDIA_TYPE (415) unless the body is declared as JSON. */
export function requireJsonBody(contentType: string | undefined): void {
  if (isJsonContentType(contentType)) return;
  const got = contentType === undefined ? "none" : JSON.stringify(contentType.slice(0, 80));
  throw new GatewayError(
    "UNSUPPORTED_MEDIA_TYPE",
    `content-type: ${got} is not JSON; send the header "Content-Type: application/json" (curl: -H 'content-type: application/json')`,
    { field: "content-type" },
  );
}
