/**
 * `/healthz` and `/readyz`: a load balancer takes a draining node out of
 * rotation at once (503), while the process itself stays healthy.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export interface HealthOptions {
  /** False while the server drains. */
  readonly accepting: () => boolean
  readonly version: string
}

export function registerHealth(app: FastifyInstance, options: HealthOptions): void {
  const readiness = async (_request: FastifyRequest, reply: FastifyReply) => {
    const accepting = options.accepting()
    return reply
      .code(accepting ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: accepting ? 'ok' : 'draining', version: options.version })
  }
  app.get('/healthz', readiness)
  app.get('/readyz', readiness)
}
