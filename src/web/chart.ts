/**
 * A small line chart on a canvas: the last N samples (one a second) of one or more series, with a
 * y axis in the chart's unit (0 and the top value), a time axis (seconds ago), and a text legend.
 * A sample of null is a gap (no value then), not a zero.
 */
const LEFT = 46
const BOTTOM = 18

export class LineChart {
  private readonly series = new Map<string, Array<number | null>>()
  private readonly canvas: HTMLCanvasElement
  readonly element: HTMLElement
  private readonly legend: HTMLElement

  constructor (readonly title: string, private readonly unit: string, private readonly keep = 60) {
    this.canvas = document.createElement('canvas')
    this.canvas.width = 480
    this.canvas.height = 120
    this.canvas.setAttribute('role', 'img')
    this.canvas.setAttribute('aria-label', title)
    this.legend = document.createElement('p')
    this.legend.className = 'legend'
    const figure = document.createElement('figure')
    const caption = document.createElement('figcaption')
    caption.textContent = title
    figure.append(caption, this.canvas, this.legend)
    this.element = figure
  }

  push (values: Record<string, number | null>): void {
    for (const [name, v] of Object.entries(values)) {
      const s = this.series.get(name) ?? []
      s.push(v)
      if (s.length > this.keep) s.shift()
      this.series.set(name, s)
    }
    this.draw()
  }

  private draw (): void {
    const ctx = this.canvas.getContext('2d')
    if (ctx === null) return
    const { width, height } = this.canvas
    ctx.clearRect(0, 0, width, height)
    const all = [...this.series.values()].flat().filter((v): v is number => v !== null)
    const max = niceCeiling(Math.max(1, ...all))
    const plotW = width - LEFT - 4
    const plotH = height - BOTTOM - 6
    const xOf = (i: number): number => LEFT + (i / Math.max(1, this.keep - 1)) * plotW
    const yOf = (v: number): number => 6 + plotH - (v / max) * plotH
    // Axes: the value scale at the left, seconds ago along the bottom.
    ctx.setLineDash([])
    ctx.strokeStyle = '#bbb'
    ctx.lineWidth = 1
    ctx.beginPath()
    ctx.moveTo(LEFT, 6)
    ctx.lineTo(LEFT, 6 + plotH)
    ctx.lineTo(LEFT + plotW, 6 + plotH)
    ctx.stroke()
    ctx.fillStyle = '#555'
    ctx.font = '11px system-ui, sans-serif'
    ctx.textAlign = 'right'
    ctx.textBaseline = 'middle'
    ctx.fillText(`${max}${this.unit}`, LEFT - 4, 8)
    ctx.fillText(`0${this.unit}`, LEFT - 4, 6 + plotH)
    ctx.textBaseline = 'top'
    ctx.textAlign = 'left'
    ctx.fillText(`${this.keep} s ago`, LEFT, 6 + plotH + 3)
    ctx.textAlign = 'right'
    ctx.fillText('now', LEFT + plotW, 6 + plotH + 3)
    // Series differ by dash pattern as well as colour, so the chart reads without colour.
    const styles: Array<[string, number[]]> = [['#1f5fbf', []], ['#b3261e', [6, 4]], ['#1b7f3b', [2, 3]], ['#6b4fa0', [10, 3, 2, 3]]]
    let i = 0
    const parts: string[] = []
    for (const [name, values] of this.series) {
      const [color, dash] = styles[i++ % styles.length] as [string, number[]]
      ctx.strokeStyle = color
      ctx.setLineDash(dash)
      ctx.lineWidth = 2
      ctx.beginPath()
      // The newest sample at the right edge, older ones to its left.
      const offset = this.keep - values.length
      let drawing = false
      values.forEach((v, x) => {
        if (v === null) { drawing = false; return }
        const px = xOf(x + offset)
        const py = yOf(v)
        if (!drawing) ctx.moveTo(px, py)
        else ctx.lineTo(px, py)
        drawing = true
      })
      ctx.stroke()
      const last = values[values.length - 1]
      parts.push(`${name}: ${last === null || last === undefined ? 'none' : `${Number.isInteger(last) ? last : last.toFixed(1)}${this.unit}`}`)
    }
    this.legend.textContent = parts.join(' · ')
  }
}

/** The axis top: the maximum rounded up to 1, 2 or 5 times a power of ten. */
function niceCeiling (v: number): number {
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p
  return 10 * p
}
