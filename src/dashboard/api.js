// Reads detour.v1.AdminService over Connect's JSON protocol: the same calls
// any script can make (POST /detour.v1.AdminService/<Method>). When gateway
// keys are configured the operator types an admin key, which is kept in
// sessionStorage for this tab only and sent as "Authorization: Bearer".

const STORAGE_KEY = "detour.dashboard.adminKey";

/** A failed call: HTTP status, Connect code ("unauthenticated", ...) and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The admin key for this tab. */
export const adminKey = {
  get: () => sessionStorage.getItem(STORAGE_KEY) ?? "",
  set: (key) => sessionStorage.setItem(STORAGE_KEY, key),
  clear: () => sessionStorage.removeItem(STORAGE_KEY),
};

/** Calls one AdminService method with a JSON request; resolves with its JSON response. */
export async function call(method, request = {}) {
  const headers = { "content-type": "application/json", "connect-protocol-version": "1" };
  const key = adminKey.get();
  if (key) headers.authorization = `Bearer ${key}`;
  let res;
  try {
    res = await fetch(`/detour.v1.AdminService/${method}`, {
      method: "POST",
      headers,
      body: JSON.stringify(request),
      cache: "no-store",
      credentials: "omit",
    });
  } catch {
    throw new ApiError(0, "unavailable", "the gateway cannot be reached");
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.code ?? "unknown", body.message ?? `HTTP ${res.status}`);
  return body;
}

/** Everything one refresh of the page needs, read in parallel. */
export async function readAll(route) {
  const [routes, breakers, stats, recent] = await Promise.all([
    call("ListRoutes"),
    call("ListBreakers"),
    // All routes: the page also lists direct provider/model calls that have traffic.
    call("GetStats"),
    call("ListRecentRequests", { route: route ?? "", limit: 25 }),
  ]);
  return { routes: routes.routes ?? [], breakers: breakers.breakers ?? [], stats, recent: recent.requests ?? [] };
}
