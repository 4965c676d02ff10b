// Retry-After as every service the gateway calls may send it (RFC 9110 §10.2.3), and as none should.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseRetryAfter } from '../src/retry-after.js'

const NOW = Date.UTC(2026, 11, 6, 10, 0, 0)

const cases: Array<{ header: string | string[] | undefined; waitMs: number | undefined; why: string }> = [
  { header: '120', waitMs: 120_000, why: 'delta-seconds' },
  { header: '0', waitMs: 0, why: 'retry at once' },
  { header: ' 7 ', waitMs: 7000, why: 'spaces around the value' },
  { header: 'Sun, 06 Dec 2026 10:00:30 GMT', waitMs: 30_000, why: 'IMF-fixdate' },
  { header: 'Sunday, 06-Dec-26 10:01:00 GMT', waitMs: 60_000, why: 'RFC 850 date' },
  { header: 'Sun Dec  6 10:00:05 2026', waitMs: 5000, why: 'asctime date, which is GMT' },
  { header: 'Sun, 06 Dec 2026 09:00:00 GMT', waitMs: 0, why: 'a date in the past: now, never negative' },
  { header: '-5', waitMs: undefined, why: 'negative seconds are not advice' },
  { header: '1.5', waitMs: undefined, why: 'delta-seconds are whole seconds' },
  { header: 'soon', waitMs: undefined, why: 'garbage' },
  { header: 'Sun, 99 Foo 2026', waitMs: undefined, why: 'a date that is not one' },
  { header: '', waitMs: undefined, why: 'empty' },
  { header: undefined, waitMs: undefined, why: 'absent' },
  { header: ['3', '100'], waitMs: 3000, why: 'a repeated header is read by its first value' },
  { header: [], waitMs: undefined, why: 'no values' },
]

for (const { header, waitMs, why } of cases) {
  test(`Retry-After ${JSON.stringify(header)}: ${waitMs === undefined ? 'no advice' : `${waitMs} ms`} (${why})`, () => {
    assert.equal(parseRetryAfter(header, NOW), waitMs)
  })
}
