// The lease-holder SIGKILL scenario (scale-failover.test.ts) with the instances on the DynamoDB store (dynalite).
process.env.PGW_TEST_STORE = 'dynamodb'
await import('./scale-failover.test.js')
