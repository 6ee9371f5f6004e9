/**
 * The response envelope and its schemas: `{code: 0, message: "OK", data}` on success,
 * `{code: "<STABLE_CODE>", message, request_id}` on error.
 */
export interface Ok<T> {
  readonly code: 0
  readonly message: 'OK'
  readonly data: T
}

export function ok<T> (data: T): Ok<T> {
  return { code: 0, message: 'OK', data }
}

export type JsonSchema = Record<string, unknown>

export function okSchema (data: JsonSchema): JsonSchema {
  return {
    type: 'object',
    required: ['code', 'message', 'data'],
    properties: { code: { type: 'integer' }, message: { type: 'string' }, data }
  }
}

export const errorSchema: JsonSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    request_id: { type: 'string' }
  }
}

/** Error responses every authenticated route may give. */
export const commonErrors = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  409: errorSchema,
  429: errorSchema,
  500: errorSchema,
  503: errorSchema
} as const
