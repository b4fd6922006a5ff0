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
        },
      },
    ],
  },
});
