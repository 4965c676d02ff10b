// The end-to-end ring scenarios (ring.test.ts) with the gateway on the DynamoDB store (dynalite).
process.env.PGW_TEST_STORE = 'dynamodb'
await import('./ring.test.js')
