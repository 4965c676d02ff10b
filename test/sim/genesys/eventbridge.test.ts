// The simulator as an Amazon EventBridge integration: an API destination on loopback receives the
// detail events of a flow, in order, with the connection's API key header.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startGenesysSim } from '../../../src/sim/genesys/index.js'

test('POST /sim/v1/eventbridge: detail events of an alert timeout reach the destination in order; a non-loopback URL is refused', async (t) => {
  const sim = await startGenesysSim()
  const received: Array<{ secret: string | undefined; topic: string; body: Record<string, unknown> }> = []
  const destination = createServer((req, res) => {
    let text = ''
    req.on('data', (c: Buffer) => (text += c.toString('utf8')))
    req.on('end', () => {
      const event = JSON.parse(text) as {
        'detail-type': string
        detail: { topicName: string; eventBody: Record<string, unknown> }
      }
      assert.equal(event['detail-type'], event.detail.topicName)
      received.push({
        secret: req.headers['x-webhook-secret'] as string | undefined,
        topic: event.detail.topicName,
        body: event.detail.eventBody,
      })
      res.writeHead(202).end('{}')
    })
  })
  await new Promise<void>((resolve) => destination.listen(0, '127.0.0.1', resolve))
  t.after(async () => {
    await sim.close()
    await new Promise((resolve) => destination.close(resolve))
  })
  const control = (body: unknown): Promise<Response> =>
    fetch(`${sim.url}/sim/v1/eventbridge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const port = (destination.address() as AddressInfo).port
  assert.equal(
    (await control({ url: `http://127.0.0.1:${port}/api/v1/events`, secret: 's3cret', detailOnly: true })).status,
    204,
  )
  assert.equal((await control({ url: 'http://192.0.2.10/api/v1/events' })).status, 400, 'never anywhere but loopback')

  const a = sim.addAgent().userId
  const b = sim.addAgent().userId
  const q = sim.addQueue({ name: 'Support' }).id
  const { conversationId } = sim.offer({ userId: a, mediaType: 'voice', queueId: q })
  sim.noAnswer(conversationId, b)
  await sim.eventBridge.drained()
  const kinds = received.map(
    (r) =>
      `${r.topic.slice(`v2.detail.events.conversation.${conversationId}.`.length)}:${String(r.body.userId ?? '')}:${String(r.body.disconnectType ?? '')}`,
  )
  assert.deepEqual(kinds, ['acd.start::', `user.start:${a}:`, `user.end:${a}:NO_ANSWER_TRANSFER`, `user.start:${b}:`])
  assert.ok(received.every((r) => r.secret === 's3cret'))
  assert.equal(sim.eventBridge.failures, 0)
})
