// `npm run build`, second step: the CLI bundled by esbuild into dist/ledger/ (what cli/bin.mjs runs).
// A command's start-up was mostly module loading — kysely alone is 263 files — and at 50,000
// calls an import spent about a quarter of its whole time there (issue 16). One file per command
// (chunks shared between them) loads in a third of the time. Packages that find files beside
// their own modules (PGlite's wasm, pino's workers) or load optional native code stay outside
// and resolve from node_modules as before.
import { copyFileSync } from 'node:fs';
import { build } from 'esbuild';

const outdir = 'dist/ledger';
await build({
  entryPoints: ['cli/main.ts'],
  outdir,
  bundle: true,
  splitting: true, // each command stays a chunk of its own, loaded when asked for
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@electric-sql/pglite', '@eventstore/db-client', 'pino', 'prom-client', 'pg-native'],
  // Bundled CommonJS packages (pg, iconv-lite…) call require() for Node's own modules.
  banner: { js: "import { createRequire as __ledgerRequire } from 'node:module'; const require = __ledgerRequire(import.meta.url);" },
  logLevel: 'warning',
});
// eventstore/database.ts loads it by a URL relative to its own module, which is now a chunk here.
copyFileSync('eventstore/pglite-template.mjs', `${outdir}/pglite-template.mjs`);
