/**
 * `npm run lint` (and `npm run lint:fix`): neostandard, the `standard` style (no semicolons, single
 * quotes, a space before a function's parentheses) with its TypeScript support, as Fastify uses it.
 * The tree followed that style before it was checked; the rules turned off below are the few it
 * did not follow on purpose, each with its reason. neostandard stays on 0.13 (ESLint 9): 0.14 needs
 * Node.js 22.13, and the development and CI machines run Node.js 20.
 */
'use strict'
const neostandard = require('neostandard')

module.exports = [
  ...neostandard({
    ts: true,
    noJsx: true,
    ignores: neostandard.resolveIgnoresFromGitignore()
  }),
  {
    rules: {
      // Style only: a long object literal is wrapped where it reads best (58 places).
      '@stylistic/object-property-newline': 'off',
      // Style only: short ternaries stay on one line inside a multi-line expression.
      '@stylistic/multiline-ternary': 'off',
      // `void promise` marks a promise left unawaited on purpose (typescript-eslint's idiom).
      'no-void': 'off',
      // Reports flags that a callback or a timer sets while the loop awaits: every hit was that.
      'no-unmodified-loop-condition': 'off',
      // prom-client metrics register themselves, and a browser Notification shows itself, in `new`.
      'no-new': 'off'
    },
    // A directive that disables nothing (a rule renamed, a finding gone) is itself a finding.
    linterOptions: { reportUnusedDisableDirectives: 'error' }
  },
  {
    // The pages' API client throws plain ApiError objects ({ status, code, message }) that the
    // pages read field by field.
    files: ['src/web/**'],
    rules: { 'no-throw-literal': 'off' }
  }
]
