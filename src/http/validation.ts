/**
 * Request validation. JSON bodies are validated strictly: no type coercion ("5" is not a number),
 * no silently dropped properties. Params, query strings and headers arrive as text, so they are
 * coerced, but unknown query parameters are refused too.
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

export const validatorCompiler: FastifySchemaCompiler<Record<string, unknown>> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : coercing).compile(schema)
