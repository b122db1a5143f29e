// The embedded store's template: a freshly initialised, closed PGlite data directory, made once
// (by `npm install`, or by the first start that finds none) and copied into every new data
// directory. PGlite's initdb takes seconds and grows the WebAssembly memory to ~0.8 GB that a
// process never gives back; a copy takes milliseconds, and the server never runs initdb itself.
// Plain JavaScript so that `npm install` can run it before anything is compiled; the build copies
// it into dist/ as it is, so it finds PGlite by module resolution, not by its own place.
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** …/node_modules/@electric-sql/pglite, wherever this file is (eventstore/ or dist/eventstore/). */
function pgliteDir() {
  // createRequire rather than import.meta.resolve, which vitest's module runner does not offer.
  let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

export function templateDir() {
  const pglite = pgliteDir();
  const version = JSON.parse(readFileSync(join(pglite, 'package.json'), 'utf8')).version;
  return join(pglite, '../../.cache/ledger-pglite-template', version);
}

/** Creates the template when missing (in this process: call it from a short-lived one). */
export async function ensureTemplate() {
  const dir = templateDir();
  if (existsSync(join(dir, 'PG_VERSION'))) return dir;
  const { PGlite } = await import('@electric-sql/pglite');
  const building = `${dir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  const db = await PGlite.create(building);
  await db.query('select 1');
  await db.close();
  try {
    renameSync(building, dir);
  } catch (e) {
    // another process made it meanwhile
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(join(dir, 'PG_VERSION'))) throw e;
  }
  return dir;
}

/** Fills an empty data directory from the template. */
export function copyTemplate(template, dataDir) {
  cpSync(template, dataDir, { recursive: true });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const dir = await ensureTemplate();
    process.stdout.write(`embedded store template ready: ${dir}\n`);
  } catch (e) {
    // Never fail an install for it: a first start will initialise its data directory itself.
    process.stderr.write(`embedded store template not made (${e?.message ?? e}); the first start will initialise the store\n`);
  }
}
