/**
 * The Origin allowlist shared by the WebSocket upgrade and BOSH CORS.
 * Empty (the default) or `*` allows any origin. A request with no Origin
 * header comes from a non-browser client, which CORS does not concern.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true
  if (allowed.length === 0 || allowed.includes('*')) return true
  return allowed.includes(origin.toLowerCase())
}
