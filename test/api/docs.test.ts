// The OpenAPI description at /docs comes from the route schemas that validate requests.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { startHarness, type Harness } from '../e2e/harness.js'

let h: Harness
before(async () => {
  h = await startHarness({ ADMIN_TOKEN: 'admin-token-for-docs-0123' })
})
after(() => h.close())

interface Operation {
  summary?: string
  description?: string
  requestBody?: {
    content: Record<string, { schema: { required?: string[]; properties?: Record<string, { enum?: string[] }> } }>
  }
}

test('GET /docs/json is an OpenAPI 3 document in which every operation is described', async () => {
  const res = await fetch(`${h.api}/docs/json`)
  assert.equal(res.status, 200)
  const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, Operation>> }
  assert.match(doc.openapi, /^3\./)
  const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([m, op]) => ({ id: `${m.toUpperCase()} ${path}`, op })),
  )
  for (const expected of [
    'POST /api/v1/devices',
    'GET /api/v1/devices',
    'DELETE /api/v1/devices/{token}',
    'GET /healthz',
    'GET /readyz',
    'GET /metrics',
    'GET /dashboard/api/state',
  ]) {
    assert.ok(
      ops.some((o) => o.id === expected),
      `${expected} is described`,
    )
  }
  const undescribed = ops.filter(({ op }) => !op.description || !op.summary).map((o) => o.id)
  assert.deepEqual(undescribed, [], 'every route has a summary and a description')
  assert.equal(
    ops.some((o) => o.id.startsWith('GET /dashboard/app')),
    false,
    'static assets are not API',
  )
})

test('the documented register body is the schema that validates it', async () => {
  const doc = (await (await fetch(`${h.api}/docs/json`)).json()) as { paths: Record<string, Record<string, Operation>> }
  const schema = doc.paths['/api/v1/devices']?.post?.requestBody?.content['application/json']?.schema
  assert.ok(schema?.required?.includes('platform'))
  assert.deepEqual(schema?.properties?.platform?.enum, ['ios', 'android', 'web'])
  assert.ok(schema?.properties?.token, 'the token field is documented')
  // The validation says the same: a platform outside the enum is refused naming the field.
  const agent = h.world.genesys.addAgent()
  const refused = await h.register(agent.accessToken, { platform: 'blackberry', token: 'x'.repeat(40) })
  assert.equal(refused.status, 400)
  assert.match(JSON.stringify(refused.json), /platform/)
})

test('GET /docs serves the Swagger UI', async () => {
  const res = await fetch(`${h.api}/docs/`, { redirect: 'follow' })
  assert.equal(res.status, 200)
  assert.match(await res.text(), /swagger-ui/i)
})
