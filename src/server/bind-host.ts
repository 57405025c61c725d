/**
 * Where to listen. A gateway without keys serves anyone who reaches it, so
 * it listens on loopback only, whatever host the config or command line
 * asks for, unless server.open_public says to (as Redis's protected mode
 * does). With keys, the default stays every interface.
 */

/** The address an open gateway listens on unless told otherwise. */
export const OPEN_HOST = "127.0.0.1";

/** True for a loopback address or name: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h === "::1" || /^127(?:\.\d{1,3}){3}$/.test(h) || h === "::ffff:127.0.0.1";
}

/** What decides the address. */
export interface BindInput {
  /** From --host / HOST, else server.host; "" or undefined when neither says. */
  readonly requested: string | undefined;
  /** No gateway keys are configured. */
  readonly open: boolean;
  /** server.open_public: listen on `requested` even without keys. */
  readonly openPublic: boolean;
  /** The default with keys. */
  readonly keyedDefault: string;
}

/** The address to listen on, and the requested one when it was overridden. */
export function bindHost(i: BindInput): { host: string; overridden?: string } {
  const requested = i.requested || undefined;
  if (!i.open) return { host: requested ?? i.keyedDefault };
  if (requested === undefined) return { host: OPEN_HOST };
  if (i.openPublic || isLoopbackHost(requested)) return { host: requested };
  return { host: OPEN_HOST, overridden: requested };
}
