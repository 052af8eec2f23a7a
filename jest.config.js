/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  setupFiles: ['<rootDir>/test/setup-env.js'],
  // PGlite's first open costs seconds; store and end-to-end suites need room.
  testTimeout: 60000,
  // Two cores: more workers than that only thrash.
  maxWorkers: 2,
  // Test names in the output show, among other things, which store drivers each suite ran on.
  verbose: true,
};
