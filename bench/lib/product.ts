// The benchmarks measure the product as it ships: the compiled JavaScript in dist/ (what
// `push-gateway start` and `npm start` run), not TypeScript transformed on the fly by tsx, whose
// helpers add per-call work. run.ts builds dist/ first; the types still come from src/.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dist = new URL('../../dist/', import.meta.url)

export async function productModule<T>(path: string): Promise<T> {
  const url = new URL(path, dist)
  if (!existsSync(fileURLToPath(url)))
    throw new Error(`dist/${path} is missing: run \`npm run build\` (npm run bench does)`)
  return (await import(url.href)) as T
}
