// Loads tap's types, which declare the global `tap` namespace (tap.Test) for CommonJS users.
import type tapRoot from 'tap'

export type Test = tap.Test
export type Tap = typeof tapRoot
