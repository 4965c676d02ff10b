import type { FastifyInstance } from 'fastify'

export interface ReadinessCheck {
  name: string
  check: () => Promise<{ ok: boolean; detail?: string }>
}

export function healthRoutes(app: FastifyInstance, checks: ReadinessCheck[]): void {
  // Alive: the process answers. Orchestrators restart on this failing, so it checks nothing else.
  app.get('/healthz', async () => ({ status: 'ok' }))

  // Ready: every dependency a ring needs answers (store reachable, event source connected).
  app.get('/readyz', async (_req, reply) => {
    const results = await Promise.all(
      checks.map(async (c) => {
        try {
          return [c.name, await c.check()] as const
        } catch (err) {
          return [c.name, { ok: false, detail: err instanceof Error ? err.message : String(err) }] as const
        }
      }),
    )
    const ready = results.every(([, r]) => r.ok)
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not-ready', checks: Object.fromEntries(results) })
  })
}
