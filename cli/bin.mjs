#!/usr/bin/env node
// `npx ledger …` and `npm start`: the compiled CLI in dist/ (`npm install` builds it; so does
// `npm run build`). The sources run through tsx only in development: `npm run ledger -- …`.
let main;
try {
  ({ main } = await import('../dist/ledger/main.js'));
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/ledger/main.js')) throw e;
  process.stderr.write('ledger: not built yet (dist/ is missing); run `npm run build` (npm install does it)\n');
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
