import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'domain/**/*.test.ts', 'projections/**/*.test.ts', 'importers/**/*.test.ts', 'api/**/*.test.ts', 'eventstore/**/*.test.ts', 'cli/**/*.test.ts'],
    testTimeout: 60_000,
    // Opening a fresh embedded store takes 10–15 s on a loaded 2-core machine; a suite's fixture opens several.
    hookTimeout: 120_000,
    // PGlite instances and the shared PostgreSQL server do not like many parallel workers on 2 cores.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
