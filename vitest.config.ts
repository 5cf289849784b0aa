import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // 2 cores: end-to-end files spawn servers and many sockets; keep them from starving each other.
    maxWorkers: 2,
  },
});
