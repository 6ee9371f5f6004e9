// Builds the buyer page (index.html) and the operator page (ops.html) into dist/web.
import { resolve } from 'node:path'
import { defineConfig } from 'vite'

const here = import.meta.dirname

export default defineConfig({
  root: here,
  base: '/',
  logLevel: 'warn',
  build: {
    outDir: resolve(here, '../../dist/web'),
    emptyOutDir: true,
    rollupOptions: {
      input: { index: resolve(here, 'index.html'), ops: resolve(here, 'ops.html') }
    }
  }
})
