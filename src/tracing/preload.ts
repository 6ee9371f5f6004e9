/**
 * Imported first by the process entry (src/server.ts): starts tracing, when configured, before
 * Fastify, ioredis, mysql2 or pino are loaded, so that their instrumentations take hold. A bad
 * OTEL_* setting starts nothing here; loadConfig reports it with every other problem.
 */
import { loadTracingConfig } from '../config'
import { startTracing } from './sdk'
import type { Tracing } from './sdk'

const settings = loadTracingConfig()
export const processTracing: Tracing | undefined = settings === undefined ? undefined : startTracing(settings, 'process')
