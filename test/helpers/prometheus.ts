/** A strict reader of the Prometheus text format, for tests of /metrics. */
export interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

// Values as Prometheus reads them (Go's ParseFloat): NaN and Inf in any letter case.
const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([+-]?(?:[0-9.]+(?:e[+-]?[0-9]+)?|nan|inf))$/i
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses every line; throws on the first line that is not valid exposition format. */
export function parsePrometheus (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue
    const m = LINE.exec(line)
    if (m === null) throw new Error(`not Prometheus text: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    for (const l of (m[3] ?? '').matchAll(LABEL)) labels[l[1] as string] = l[2] as string
    samples.push({ name: m[1] as string, labels, value: Number(m[4]) })
  }
  return samples
}

export function sum (samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0)
}
