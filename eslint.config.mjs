import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The floors of src/, lowest first (docs/architecture.md says what each owns). A module may import
 * from its own floor and the floors below; an import of a higher floor fails lint. Top-level modules
 * of src/ (errors.ts, listen.ts, …) are on the ground floor with log/.
 */
export const FLOORS = [
  ['errors', 'version', 'listen', 'owner-only', 'text-file', 'log'],
  ['validation'],
  ['store'],
  ['config'],
  ['mapping'],
  ['indicators'],
  ['actions', 'surveys'],
  ['fhir'],
  ['writeback', 'alerts', 'messaging'],
  ['sync'],
  ['sandbox'],
  ['api'],
  ['scheduler'],
  ['cli'],
];

/** One no-restricted-imports rule per module of src/: every module of a higher floor is refused, by relative path. */
function layering() {
  return FLOORS.flatMap((floor, level) => {
    const above = FLOORS.slice(level + 1).flat();
    if (above.length === 0) return [];
    // Every top-level module of src/ is on the ground floor, named in FLOORS or not (a new one too).
    const names = level === 0 ? ['log', '*'] : floor;
    return names.map((name) => {
      const files = name === '*' ? ['src/*.ts'] : [`src/${name}/**/*.ts`];
      // From src/<dir>/x.ts a module above is '../<m>…'; from src/<dir>/<sub>/x.ts '../../<m>…'; from src/x.ts './<m>…'.
      const group = above.flatMap((m) => [
        `./${m}`,
        `./${m}/**`,
        `../${m}`,
        `../${m}/**`,
        `../../${m}`,
        `../../${m}/**`,
      ]);
      return {
        files,
        rules: {
          'no-restricted-imports': [
            'error',
            {
              patterns: [
                {
                  group,
                  message: `${name === '*' ? 'a top-level module' : name} is on floor ${level} of src/ (eslint.config.mjs FLOORS, docs/architecture.md): it may not import a module of a higher floor; move the shared code down instead.`,
                },
              ],
            },
          ],
        },
      };
    });
  });
}

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'data/',
      'coverage/',
      'bin/',
      'scripts/',
      'web/dist/',
      'web/vite.config.mjs',
      '*.config.js',
      'test/setup-env.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      eqeqeq: ['error', 'smart'],
    },
  },
  ...layering(),
  {
    // Rooms small enough to read (docs/architecture.md): split a module or a function that outgrows them.
    files: ['src/**/*.ts', 'web/src/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 400 }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // The CLI is the one place that talks to a terminal.
    files: ['src/cli/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
