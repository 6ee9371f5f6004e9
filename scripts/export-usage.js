#!/usr/bin/env node
/**
 * How widely the product's exported names are used: for every name exported by a module in src/
 * or workers/ (its declaration, not a re-export), how many other modules there import it, front
 * doors (index.ts re-exports) followed to the declaration. Tests do not count.
 *
 *   node scripts/export-usage.js          totals: names used by none, by one, by more
 *   node scripts/export-usage.js --list   every name used by one module or none, with its users
 *   --tests                               count the tests' imports too
 *
 * Issue 31 reports these figures before and after the grouping by area.
 */
'use strict'
const ts = require('typescript')
const path = require('node:path')

const root = path.join(__dirname, '..')
const config = ts.getParsedCommandLineOfConfigFile(path.join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })
const inScope = (f) => /^(src|workers)\//.test(path.relative(root, f)) && !path.relative(root, f).startsWith('src/web/')
const withTests = process.argv.includes('--tests')
const isTest = (f) => /^test\//.test(path.relative(root, f))
const program = ts.createProgram(config.fileNames.filter((f) => inScope(f) || (withTests && isTest(f))), config.options)
const checker = program.getTypeChecker()
const files = program.getSourceFiles().filter((sf) => inScope(sf.fileName) && !sf.isDeclarationFile)

/** Declaring file and name of the symbol an alias finally points at. */
function original (symbol) {
  let s = symbol
  while (s.flags & ts.SymbolFlags.Alias) s = checker.getAliasedSymbol(s)
  const decl = s.declarations?.[0]
  return decl === undefined ? undefined : `${path.relative(root, decl.getSourceFile().fileName)}#${s.name}`
}

const users = new Map() // declaration key -> set of importing files
for (const sf of files) {
  const moduleSymbol = checker.getSymbolAtLocation(sf)
  if (moduleSymbol === undefined) continue
  for (const exp of checker.getExportsOfModule(moduleSymbol)) {
    const key = original(exp)
    if (key !== undefined && key.startsWith(path.relative(root, sf.fileName) + '#')) users.set(key, users.get(key) ?? new Set())
  }
}
const importers = withTests ? program.getSourceFiles().filter((sf) => (inScope(sf.fileName) || isTest(sf.fileName)) && !sf.isDeclarationFile) : files
for (const sf of importers) {
  const rel = path.relative(root, sf.fileName)
  sf.forEachChild(function visit (node) {
    if (ts.isImportDeclaration(node) && node.importClause !== undefined) {
      const c = node.importClause
      const names = []
      if (c.name) names.push(c.name)
      if (c.namedBindings && ts.isNamedImports(c.namedBindings)) names.push(...c.namedBindings.elements.map((e) => e.name))
      for (const n of names) {
        const s = checker.getSymbolAtLocation(n)
        const key = s && original(s)
        if (key && users.has(key) && !key.startsWith(rel + '#')) users.get(key).add(rel)
      }
    }
  })
}
const counts = { none: 0, one: 0, more: 0 }
const listed = []
for (const [key, set] of users) {
  if (set.size === 0) counts.none++
  else if (set.size === 1) counts.one++
  else counts.more++
  if (set.size <= 1) listed.push(`${key}\t${[...set].join(', ') || '-'}`)
}
if (process.argv.includes('--list')) console.log(listed.sort().join('\n'))
console.log(`exported names: ${users.size}; used by no other module: ${counts.none}; by exactly one: ${counts.one}; by more: ${counts.more}`)
