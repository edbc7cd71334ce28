// Inline SVG charts for the HTML report: no script, no CDN, opens anywhere.

export interface Series {
  name: string
  color: string
  kind: 'line' | 'dots' | 'bars'
  points: [number, number][]
}

export interface ChartOptions {
  title: string
  xLabel: string
  yLabel: string
  series: Series[]
  /** Logarithmic y axis (latency tails); chosen automatically when values span > 50x. */
  yLog?: boolean
  width?: number
  height?: number
}

export const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')

const fmt = (v: number) => (Math.abs(v) >= 1000 ? `${+(v / 1000).toPrecision(3)}k` : `${+v.toPrecision(3)}`)

function niceTicks(min: number, max: number, count = 5): number[] {
  if (max <= min) return [min]
  const step0 = (max - min) / count
  const mag = 10 ** Math.floor(Math.log10(step0))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0
  const out: number[] = []
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(+v.toPrecision(12))
  return out
}

export function chart(o: ChartOptions): string {
  const W = o.width ?? 860
  const H = o.height ?? 280
  const m = { l: 64, r: 16, t: 30, b: 42 }
  const all = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
  if (!all.length) return `<figure><figcaption>${esc(o.title)}</figcaption><p class="empty">no data</p></figure>`
  const xs = all.map((p) => p[0])
  const ys = all.map((p) => p[1])
  const xMin = Math.min(...xs)
  const xMax = Math.max(...xs, xMin + 1e-9)
  const positive = ys.filter((y) => y > 0)
  const yLog = o.yLog ?? (positive.length > 0 && Math.max(...positive) / Math.min(...positive) > 50)
  const yMin = yLog ? Math.min(...positive) / 1.2 : 0
  const yMax = Math.max(...ys) * 1.08 || 1
  const px = (x: number) => m.l + ((x - xMin) / (xMax - xMin || 1)) * (W - m.l - m.r)
  const py = (y: number) => {
    const f = yLog ? (Math.log10(Math.max(y, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin) || 1) : (y - yMin) / (yMax - yMin || 1)
    return H - m.b - f * (H - m.t - m.b)
  }
  const yTicks = yLog
    ? Array.from({ length: Math.floor(Math.log10(yMax)) - Math.ceil(Math.log10(yMin)) + 1 }, (_, i) => 10 ** (Math.ceil(Math.log10(yMin)) + i))
    : niceTicks(yMin, yMax)
  const parts: string[] = []
  for (const t of yTicks) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" class="grid"/>`,
      `<text x="${m.l - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`)
  }
  for (const t of niceTicks(xMin, xMax, 8)) {
    parts.push(`<text x="${px(t).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle">${fmt(t)}</text>`)
  }
  const barW = Math.max(1, ((W - m.l - m.r) / Math.max(1, ...o.series.filter((s) => s.kind === 'bars').map((s) => s.points.length))) * 0.8)
  for (const s of o.series) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    if (s.kind === 'line') {
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.6" points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`)
    } else if (s.kind === 'dots') {
      parts.push(`<g fill="${s.color}" fill-opacity="0.45">${pts.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="1.6"/>`).join('')}</g>`)
    } else {
      parts.push(`<g fill="${s.color}">${pts.map(([x, y]) => `<rect x="${(px(x) - barW / 2).toFixed(1)}" y="${py(y).toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0, H - m.b - py(y)).toFixed(1)}"/>`).join('')}</g>`)
    }
  }
  const legend = o.series.map((s, i) => `<g transform="translate(${m.l + 10 + i * 120},${m.t - 14})"><rect width="10" height="10" fill="${s.color}"/><text x="14" y="9">${esc(s.name)}</text></g>`).join('')
  return `<figure><figcaption>${esc(o.title)}</figcaption><svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(o.title)}">
<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" class="axis"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" class="axis"/>
${parts.join('\n')}
${legend}
<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle" class="label">${esc(o.xLabel)}</text>
<text x="14" y="${(m.t + H - m.b) / 2}" text-anchor="middle" class="label" transform="rotate(-90 14 ${(m.t + H - m.b) / 2})">${esc(o.yLabel)}${yLog ? ' (log)' : ''}</text>
</svg></figure>`
}
