/**
 * `/healthz` and `/readyz`: a load balancer takes a draining node out of
 * rotation at once (503), while the process itself stays healthy. With
 * `readyRequiresUpstream`, `/readyz` is also 503 while no configured
 * upstream accepts connections, so new sessions go to a node that can
 * serve them.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export interface HealthOptions {
  /** False while the server drains. */
  readonly accepting: () => boolean
  /** When set: whether some configured upstream accepts connections. */
  readonly upstreamReady?: () => boolean
  readonly version: string
}

export function registerHealth(app: FastifyInstance, options: HealthOptions): void {
  const answer = (reply: FastifyReply, ok: boolean, status: string) =>
    reply
      .code(ok ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status, version: options.version })
  app.get('/healthz', async (_request: FastifyRequest, reply: FastifyReply) => {
    const accepting = options.accepting()
    return answer(reply, accepting, accepting ? 'ok' : 'draining')
  })
  app.get('/readyz', async (_request: FastifyRequest, reply: FastifyReply) => {
    if (!options.accepting()) return answer(reply, false, 'draining')
    if (options.upstreamReady && !options.upstreamReady()) return answer(reply, false, 'no-upstream')
    return answer(reply, true, 'ok')
  })
}
