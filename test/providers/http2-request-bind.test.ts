// The push transport calls node:http2's request() with AsyncResource#bind swapped for a plain one
// (src/providers/http2-session.ts says why). The swap must be invisible: the replacement binds as
// Node.js does, and every other caller of AsyncResource#bind, after a push or a refused push,
// still gets Node.js's own.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks'
import { silentLogger } from '../../src/observability/logger.js'
import { Http2SessionPool } from '../../src/providers/http2-pool.js'
import { bindToScope } from '../../src/providers/http2-session.js'
import { alertMessage, apnsWorld } from '../sim/apns/world.js'

describe('node:http2 requests without the deprecation wrappers of AsyncResource#bind', () => {
  test('the plain bind runs the function in the resource’s async scope, with the same this, arguments and result as Node.js’s', () => {
    const store = new AsyncLocalStorage<string>()
    const seen = (label: string) =>
      function (
        this: unknown,
        a: number,
        b: number,
      ): { label: string; store: string | undefined; self: unknown; sum: number } {
        return { label, store: store.getStore(), self: this, sum: a + b }
      }
    const [node, plain] = store.run('offer-42', () => {
      const resource = new AsyncResource('Test')
      return [resource.bind(seen('node')), bindToScope(resource, seen('plain'), undefined)]
    })
    const self = { tag: 'caller' }
    // Called outside the store's run(): only the bound scope can supply 'offer-42'.
    const fromNode = node.call(self, 2, 3)
    const fromPlain = plain.call(self, 2, 3)
    assert.deepEqual({ ...fromPlain, label: 'node' }, fromNode)
    assert.equal(fromPlain.store, 'offer-42')
    assert.equal(fromPlain.self, self)

    const withThis = store.run('offer-43', () => bindToScope(new AsyncResource('Test'), seen('plain'), self))
    const fixed = withThis.call({ tag: 'other' }, 1, 1)
    assert.equal(fixed.store, 'offer-43')
    assert.equal(fixed.self, self, 'an explicit thisArg wins, as in Node.js')
  })

  test('after a push, and after a request node:http2 refused, AsyncResource#bind is Node.js’s own again', async () => {
    const nodeBind = AsyncResource.prototype.bind
    const world = await apnsWorld()
    try {
      const delivered = await world.provider().send(alertMessage())
      assert.equal(delivered.kind, 'delivered', JSON.stringify(delivered))
      assert.equal(AsyncResource.prototype.bind, nodeBind)

      // A header name that is not an HTTP token makes request() throw after the swap.
      const pool = new Http2SessionPool(world.sandbox.url, { ca: world.pki.caCert, size: 1, logger: silentLogger() })
      try {
        const refused = await pool.exchange(
          { ':method': 'POST', ':path': '/3/device/00', 'bad header': 'x' },
          '{}',
          5_000,
        )
        assert.equal(refused.kind, 'invalid', JSON.stringify(refused))
        assert.match(refused.reason, /header name that is not an HTTP token/)
      } finally {
        await pool.close()
      }
      assert.equal(AsyncResource.prototype.bind, nodeBind)
      const bound = new AsyncResource('Other').bind(() => 1)
      assert.ok('asyncResource' in bound, 'other callers still get Node.js’s bind (with its asyncResource property)')
    } finally {
      await world.close()
    }
  })
})
