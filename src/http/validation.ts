/**
 * Request validation. JSON bodies are validated strictly: no type coercion ("5" is not a number),
 * no silently dropped properties. Params, query strings and headers arrive as text, so they are
 * coerced, but unknown query parameters are refused too.
 *
 * Every number a request may carry is bounded in its schema, and a route declaring one without
 * both bounds fails at start: `1e400` parses as Infinity, which JSON Schema's `integer` accepts, and
 * an unbounded number reached SQL as Infinity (a 500 with a stack; issue 30, item 8).
 */
import Ajv from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'

function ajv (coerce: boolean): Ajv {
  const a = new Ajv({ coerceTypes: coerce, removeAdditional: false, useDefaults: true, allErrors: false, strict: false })
  addFormats(a)
  return a
}

const strict = ajv(false)
const coercing = ajv(true)

type Schema = Record<string, unknown>

const isNumeric = (type: unknown): boolean =>
  type === 'number' || type === 'integer' || (Array.isArray(type) && type.some((t) => t === 'number' || t === 'integer'))

const bounded = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER

/** JSON-pointer-ish paths of every number in `schema` that lacks a finite minimum or maximum. */
export function unboundedNumbers (schema: unknown, path = ''): string[] {
  if (schema === null || typeof schema !== 'object') return []
  if (Array.isArray(schema)) return schema.flatMap((s, i) => unboundedNumbers(s, `${path}/${i}`))
  const s = schema as Schema
  const found: string[] = []
  if (isNumeric(s.type) && s.enum === undefined && s.const === undefined) {
    const low = bounded(s.minimum) || bounded(s.exclusiveMinimum)
    const high = bounded(s.maximum) || bounded(s.exclusiveMaximum)
    if (!low || !high) found.push(path === '' ? '(root)' : path)
  }
  for (const [key, value] of Object.entries(s)) {
    if (key === 'enum' || key === 'const' || key === 'default' || key === 'examples') continue
    found.push(...unboundedNumbers(value, `${path}/${key}`))
  }
  return found
}

export class UnboundedNumberError extends Error {
  constructor (where: string, paths: readonly string[]) {
    super(`${where}: every number in a request schema needs a finite minimum and maximum; unbounded: ${paths.join(', ')}`)
    this.name = 'UnboundedNumberError'
  }
}

export const validatorCompiler: FastifySchemaCompiler<Record<string, unknown>> = ({ schema, httpPart, method, url }) => {
  const unbounded = unboundedNumbers(schema)
  if (unbounded.length > 0) throw new UnboundedNumberError(`${method} ${url} ${httpPart ?? ''}`.trim(), unbounded)
  return (httpPart === 'body' ? strict : coercing).compile(schema)
}
