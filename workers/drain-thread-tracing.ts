/**
 * Imported first by the drain threads' task file: starts tracing in the thread, when the process
 * traces, before ioredis and mysql2 are loaded there (each thread has its own module registry).
 */
import { isMainThread, workerData } from 'node:worker_threads'
import type { TracingConfig } from '../src/config'
import { startTracing } from '../src/tracing/sdk'

const settings = isMainThread ? undefined : (workerData as { tracing?: TracingConfig } | undefined)?.tracing
if (settings !== undefined) startTracing(settings, 'drain-thread')
