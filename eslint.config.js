import { readdirSync } from 'node:fs'
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

// The layering of docs/ARCHITECTURE.md, enforced: each folder of src/ named in LAYERS imports only
// the folders and ground-floor files listed for it (relative imports; type imports count too).
// Types flow down: what a stage reports lives in src/outcomes.ts, never in the stage producing it.
// Folders not named (api, cli, demo) and the root files (app.ts, cli.ts, config.ts) are the edges
// and the composition root: they may import any stage, but not sim/.
const GROUND = ['clock.js', 'model.js', 'outcomes.js', 'retry-after.js', 'fair-slots.js']
const BASE = [...GROUND, 'observability/', 'store/', 'config.js']
const LAYERS = {
  observability: { may: GROUND, why: 'it reads what the stages report from src/outcomes.ts' },
  store: { may: [...GROUND, 'observability/'], why: 'the store is below every stage' },
  genesys: { may: [...GROUND, 'observability/'], why: 'the Genesys client knows no stage' },
  sources: { may: [...BASE, 'genesys/'], why: 'a source hands RoutingEvents to a sink that app.ts wires' },
  ring: { may: [...BASE, 'genesys/'], why: 'the ring engine hands PushIntents to a sink that app.ts wires' },
  dispatch: { may: [...BASE, 'providers/'], why: 'dispatch uses the provider seam and knows nothing upstream' },
  providers: { may: BASE, why: 'a provider speaks one push protocol and knows no stage' },
  // Receipts are about rings: reach/ records its actions in ring/'s audit log.
  reach: { may: [...BASE, 'ring/'], why: 'reach/ follows what ring/ pushed' },
  // The lease wraps an event source and knows it only through the source interface.
  scale: { may: [...BASE, 'sources/'], why: 'scale/ leases a source' },
  // The simulators stand in for Genesys, Apple, Google and the browsers' push services: sharing
  // gateway code would let a gateway bug agree with itself.
  sim: { may: ['clock.js', 'observability/'], why: 'sim/ is the outside world and shares no gateway code' },
}
const SRC_ENTRIES = readdirSync(new URL('./src/', import.meta.url), { withFileTypes: true }).map((entry) =>
  entry.isDirectory() ? `${entry.name}/` : entry.name.replace(/\.ts$/, '.js'),
)
const MAX_DEPTH = 4
const escapeRegex = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
// The import of `entry` (a folder of src/ with its slash, or a root file) from a file `depth` folders below src/.
const importOf = (entry, depth) =>
  `^${depth === 0 ? '\\./' : '\\.\\./'.repeat(depth)}${escapeRegex(entry)}${entry.endsWith('/') ? '' : '$'}`
const noSim = (depth) => ({
  regex: importOf('sim/', depth),
  message: 'Only the demo and sim commands import sim/: the running gateway never does (docs/ARCHITECTURE.md).',
})
const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] })
const layering = []
for (let depth = 0; depth <= MAX_DEPTH; depth++)
  layering.push({ files: [`src/${'*/'.repeat(depth)}*.ts`], rules: restrict([noSim(depth)]) })
for (const [folder, { may, why }] of Object.entries(LAYERS)) {
  const forbidden = SRC_ENTRIES.filter((entry) => entry !== `${folder}/` && !may.includes(entry))
  const message = `${folder}/ may import only ${may.join(', ')} of src/: ${why} (docs/ARCHITECTURE.md).`
  for (let depth = 1; depth <= MAX_DEPTH; depth++)
    layering.push({
      files: [`src/${folder}/${'*/'.repeat(depth - 1)}*.ts`],
      rules: restrict(forbidden.map((entry) => ({ regex: importOf(entry, depth), message }))),
    })
}
// The demo and sim commands run the simulators: the one place outside sim/ that imports it.
layering.push({ files: ['src/demo/**/*.ts', 'src/cli/sim.ts'], rules: { 'no-restricted-imports': 'off' } })

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  ...layering,
)
