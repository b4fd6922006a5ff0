import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'default',
          include: ['test/**/*.test.ts'],
          exclude: ['test/interop/**'],
          globalSetup: ['test/support/build.ts', 'test/support/build-inspector-ui.ts'],
          setupFiles: ['test/support/machine-coverage.ts'],
          // No test reaches a public DHT router: a bt-actor run starts its DHT only with --dht-bootstrap.
          env: { BT_ACTOR_NO_DHT: '1' },
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'interop',
          include: ['test/interop/**/*.test.ts'],
          globalSetup: ['test/support/build.ts', 'test/support/build-inspector-ui.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          env: { BT_ACTOR_NO_DHT: '1' },
        },
      },
    ],
  },
});
