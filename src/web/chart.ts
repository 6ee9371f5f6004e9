/** A small line chart on a canvas: the last N samples of one or more series, with a text legend. */
export class LineChart {
  private readonly series = new Map<string, number[]>()
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

  push (values: Record<string, number>): void {
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
    const all = [...this.series.values()].flat()
    const max = Math.max(1, ...all)
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
      values.forEach((v, x) => {
        const px = (x / Math.max(1, this.keep - 1)) * (width - 4) + 2
        const py = height - 2 - (v / max) * (height - 4)
        if (x === 0) ctx.moveTo(px, py)
        else ctx.lineTo(px, py)
      })
      ctx.stroke()
      const last = values[values.length - 1] ?? 0
      parts.push(`${name}: ${Number.isInteger(last) ? last : last.toFixed(1)}${this.unit}`)
    }
    this.legend.textContent = parts.join(' · ')
  }
}
