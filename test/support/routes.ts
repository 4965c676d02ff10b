// Every route a running gateway serves, read from Fastify's own route tree, so tests that must cover
// "every route" also cover the ones added after they were written.
import type { FastifyInstance } from 'fastify'

export interface Route {
  method: string
  /** With Fastify's parameters (`:token`) and wildcards (`*`). */
  path: string
}

export function listRoutes(app: FastifyInstance): Route[] {
  const out: Route[] = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line)
    if (!m) continue
    const depth = (m[1] ?? '').length / 4
    stack.length = depth
    stack.push(m[2] ?? '')
    const path = stack.join('')
    for (const method of (m[3] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      out.push({ method, path })
  }
  return out
}

/** A concrete URL for a route: parameters and wildcards filled with `fill`. */
export function concrete(path: string, fill = 'x'): string {
  return path.replace(/:[A-Za-z]+/g, fill).replace(/\*/g, fill)
}
