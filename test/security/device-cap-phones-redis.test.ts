// The phone cap scenarios (device-cap-phones.test.ts) with the gateway on the Redis store.
process.env.PGW_TEST_STORE = 'redis'
await import('./device-cap-phones.test.js')
