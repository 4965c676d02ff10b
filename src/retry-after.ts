// Retry-After (RFC 9110 §10.2.3), read the same way for every service the gateway calls: APNs,
// FCM, Web Push services and Genesys Cloud. Either delta-seconds (digits only) or an HTTP-date;
// anything else, a negative number included, is no advice at all rather than "retry now".

// The three HTTP-date forms (IMF-fixdate, RFC 850, asctime) all start with the day's name; without
// this check Date.parse would take "-5" or "1.5" for a date.
const HTTP_DATE_START = /^(mon|tue|wed|thu|fri|sat|sun)[a-z]*,? /i

/**
 * Milliseconds to wait from `now` (epoch ms), or undefined when the header is absent or not
 * understood. A date in the past means "now" (0). A header repeated is read by its first value.
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, now: number): number | undefined {
  const text = (typeof value === 'string' ? value : value?.[0])?.trim()
  if (!text) return undefined
  if (/^\d+$/.test(text)) return Number(text) * 1000
  if (!HTTP_DATE_START.test(text)) return undefined
  // asctime names no zone, and HTTP-dates are always GMT.
  const at = Date.parse(/\d{4}$/.test(text) ? `${text} GMT` : text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}
