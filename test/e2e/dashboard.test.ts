// The dashboard in a real browser (Debian's chromium driven by playwright-core, no download): the
// operator signs in with the admin token, the simulator makes a ring, the page shows it live with
// its latencies, and a screenshot is kept in test-artifacts/ for a human to look at.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { apnsToken, fcmToken, startHarness, subscribed, waitFor, type Harness } from './harness.js'

const CHROMIUM = '/usr/bin/chromium'
// CI (CI=true; .ci/run installs chromium) always runs the browser test. A developer's fresh
// machine may not have chromium: there the test is skipped, saying how to enable it, so that
// `npm ci && npm test` still passes.
const skip =
  !existsSync(CHROMIUM) && process.env.CI !== 'true'
    ? 'chromium is not installed: apt-get install -y chromium to run the browser test'
    : false
const ADMIN = 'admin-token-for-the-browser-0123'
const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts')

let h: Harness
let browser: BrowserContext
let profile: string
before(async () => {
  if (skip) return
  h = await startHarness({ ADMIN_TOKEN: ADMIN })
  profile = mkdtempSync(join(tmpdir(), 'push-gw-chromium-'))
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
})
after(async () => {
  await browser?.close()
  if (profile) rmSync(profile, { recursive: true, force: true })
  await h?.close()
})

test('chromium is installed where the test expects it', { skip }, () => {
  assert.ok(existsSync(CHROMIUM), 'apt-get install -y chromium (.ci/run does it)')
})

test(
  'the dashboard signs in with the admin token and shows a ring from the simulator live, with its latencies',
  { skip },
  async () => {
    const page = browser.pages()[0] ?? (await browser.newPage())
    page.setDefaultTimeout(10_000)
    const problems: string[] = []
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    page.on('console', (msg) => {
      // The 401 is the wrong token tried on purpose below.
      if (msg.type() === 'error' && !/status of 401/.test(msg.text())) problems.push(`console: ${msg.text()}`)
    })

    await page.goto(`${h.api}/dashboard`)
    await page.waitForSelector('#login:not([hidden])')
    await page.fill('#token', 'wrong-admin-token-0123456789')
    await page.click('button[type=submit]')
    await page.waitForSelector('#login-error:text("refused")')
    await page.fill('#token', ADMIN)
    await page.click('button[type=submit]')
    await page.waitForSelector('#stream-state:text("live")')
    await page.waitForSelector('#source-state:text("connected")')

    // Two agents: one with an iPhone and an Android phone, one whose only device is dead.
    const alice = h.world.genesys.addAgent({ name: 'Alice Dashboard' })
    for (const body of [
      { platform: 'ios', token: apnsToken(), pushType: 'voip', environment: 'sandbox' },
      { platform: 'ios', token: apnsToken(), pushType: 'alert', environment: 'sandbox' },
      { platform: 'android', token: fcmToken() },
    ])
      assert.equal((await h.register(alice.accessToken, body)).status, 201)
    const bob = h.world.genesys.addAgent({ name: 'Bob Dashboard' })
    const dead = fcmToken()
    assert.equal((await h.register(bob.accessToken, { platform: 'android', token: dead })).status, 201)
    h.world.fcm.failToken(dead, { status: 404, errorCode: 'UNREGISTERED' })
    await subscribed(h, alice.userId)
    await subscribed(h, bob.userId)

    const calls: string[] = []
    for (let i = 0; i < 6; i++) {
      const { conversationId } = h.world.genesys.offer({
        userId: alice.userId,
        mediaType: i % 3 === 2 ? 'chat' : 'voice',
      })
      calls.push(conversationId)
      await waitFor('the ring', () =>
        h.world.fcm.accepted.some(
          (m) => (m.message.data as Record<string, string>).genesys_conversation_id === conversationId,
        ),
      )
      if (i % 2 === 0) h.world.genesys.answer(conversationId)
      else h.world.genesys.abandon(conversationId)
    }
    h.world.genesys.offer({ userId: bob.userId, mediaType: 'callback' })

    const first = calls[0]!
    // The ring row and a delivered push row of the first call, with a total latency in milliseconds.
    await page.waitForSelector(`#feed tr[data-conversation="${first}"] .tag.ring`)
    const pushRow = page.locator(`#feed tr[data-conversation="${first}"]`, { hasText: 'ring · fcm' })
    await pushRow.first().waitFor()
    const cells = await pushRow.first().locator('td').allTextContents()
    assert.match(cells[8] ?? '', /^\d+(\.\d)? ms$/, `total latency shown (${cells.join(' | ')})`)
    await page.waitForSelector('#feed .tag.cancel')
    await page.waitForSelector('#problems li:has-text("invalid-token")')
    // Four registered, one pruned when FCM said it is dead.
    await page.waitForSelector('#devices-total:text("3")')
    await page.locator('#chart-legend', { hasText: /p50 .* ms/ }).waitFor()
    assert.match((await page.textContent('#totals-rings')) ?? '', /^7 rings$/)
    assert.match((await page.textContent('#lease-state')) ?? '', /single instance|holder/)

    mkdirSync(ARTIFACTS, { recursive: true })
    const shot = join(ARTIFACTS, 'dashboard.png')
    await page.waitForTimeout(300)
    await page.screenshot({ path: shot, fullPage: true })
    assert.ok(statSync(shot).size > 20_000, 'a real screenshot')
    assert.deepEqual(problems, [], 'no script error and no CSP violation')
  },
)

test(
  'on a gateway without ADMIN_TOKEN the sign-in says admin access is off, not that the token was refused',
  { skip },
  async () => {
    const open = await startHarness({})
    const page = await browser.newPage()
    try {
      page.setDefaultTimeout(10_000)
      await page.goto(`${open.api}/dashboard`)
      await page.waitForSelector('#login:not([hidden])')
      await page.fill('#token', 'any-admin-token-0123456789')
      await page.click('button[type=submit]')
      await page.waitForSelector('#login-error:text("Admin access is off on this gateway")')
      assert.doesNotMatch((await page.textContent('#login-error')) ?? '', /refused/)
    } finally {
      await page.close()
      await open.close()
    }
  },
)
