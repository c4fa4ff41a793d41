/** `/metrics`: the Prometheus text exposition of this process's registry. */
import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../observability/metrics.js'

export function registerMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.get('/metrics', async (_request, reply) => {
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics())
  })
}
