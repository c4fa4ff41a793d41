/**
 * The Origin allowlist shared by the WebSocket upgrade and BOSH CORS.
 * Empty (the default) or `*` allows any origin. A request with no Origin
 * header comes from a non-browser client, which CORS does not concern.
 */
import { normaliseOrigin } from '../net/origin.js'

export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true
  if (allowed.length === 0 || allowed.includes('*')) return true
  // Compare in the same form the configuration was normalised to (case, default port).
  const normalised = normaliseOrigin(origin)
  return normalised !== undefined && allowed.includes(normalised)
}
