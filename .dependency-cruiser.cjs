/**
 * Import rules, checked by `npm test` (test/unit/dependency-rules.test.ts) and `npm run deps`.
 *
 * The code is grouped by business area (README "Layout"): identity, catalog, stock, orders and
 * the sale, each a folder under src/ with one front door (its index.ts). Other code imports an area
 * through its front door only. The areas form a ladder, each using only those below it:
 *
 *   the drain (workers/), HTTP (src/http)
 *   sale        admission, tickets, outcomes
 *   orders      lifecycle, the order write, payments
 *   catalog     products, events
 *   identity, stock   (neither knows any other area)
 *   shared      src/shared: errors, ids, shapes every area reads
 *
 * The
 * stock module is the one owner of a sale's stock: nothing else calls the scripts that change it.
 * HTTP routes never touch Redis keys or Lua scripts: they call an area. No import cycle at all,
 * type-only ones included. Tests may reach inside an area (they test its parts).
 */
const OUTSIDE = '^(src|workers|bench|ops|test/fixtures)/'
const AREAS = ['identity', 'catalog', 'stock', 'orders', 'sale']

/** An area may not import the areas above it on the ladder. */
const ABOVE = {
  identity: ['catalog', 'stock', 'orders', 'sale'],
  catalog: ['orders', 'sale'],
  stock: ['identity', 'catalog', 'orders', 'sale'],
  orders: ['sale'],
  sale: []
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...AREAS.map((area) => ({
      name: `${area}-through-its-front-door`,
      comment: `Outside src/${area}, import it from src/${area}/index.ts only.`,
      severity: 'error',
      from: { path: OUTSIDE, pathNot: `^src/${area}/` },
      to: { path: `^src/${area}/`, pathNot: `^src/${area}/index\\.ts$` }
    })),
    ...AREAS.filter((area) => ABOVE[area].length > 0).map((area) => ({
      name: `${area}-below-${ABOVE[area].join('-')}`,
      comment: `src/${area} sits below ${ABOVE[area].join(', ')} on the ladder of areas.`,
      severity: 'error',
      from: { path: `^src/${area}/` },
      to: { path: `^src/(${ABOVE[area].join('|')})/` }
    })),
    {
      name: 'shared-is-the-bottom',
      comment: 'src/shared holds what every area reads; it imports no area.',
      severity: 'error',
      from: { path: '^src/shared/' },
      to: { path: `^src/(${AREAS.join('|')})/` }
    },
    {
      name: 'stock-scripts-are-the-stock-modules',
      comment: 'Only the stock module calls the scripts that change a sale\'s stock: go through src/stock/index.ts.',
      severity: 'error',
      from: { path: OUTSIDE, pathNot: '^src/stock/' },
      to: { path: '^src/stock/scripts\\.ts$' }
    },
    {
      name: 'routes-never-touch-redis',
      comment: 'HTTP routes map requests to an area; Redis keys and Lua scripts stay inside the areas.',
      severity: 'error',
      from: { path: '^src/http/routes/' },
      to: { path: '^(src/redis/|lua/)' }
    },
    {
      name: 'no-cycles',
      comment: 'No import cycle, type-only ones included: a cycle is two modules that are really one.',
      severity: 'error',
      from: { path: '^(src|workers|test/fixtures)/' },
      to: { circular: true }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' }
  }
}
