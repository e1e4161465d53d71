import { escapeHtml } from './html.ts';

export interface ChartPoint {
  label: string;
  /** Pool files of the serial. */
  pool: number;
  /** Package versions that came in or went out with the serial. */
  changed: number;
}

/**
 * A small SVG chart drawn on the server (no script): pool size as a line on the left scale and
 * packages changed as bars on the right scale, one column per serial, oldest first. Titled and
 * described for screen readers; scales with its container (viewBox).
 */
export function chartSvg(points: readonly ChartPoint[], title: string): string {
  const w = 640;
  const h = 220;
  const pad = { l: 56, r: 56, t: 16, b: 44 };
  const iw = w - pad.l - pad.r;
  const ih = h - pad.t - pad.b;
  const maxPool = Math.max(1, ...points.map((p) => p.pool));
  const maxChanged = Math.max(1, ...points.map((p) => p.changed));
  const step = points.length ? iw / points.length : iw;
  const x = (i: number) => pad.l + step * i + step / 2;
  const yPool = (v: number) => pad.t + ih - (v / maxPool) * ih;
  const yChanged = (v: number) => pad.t + ih - (v / maxChanged) * ih;
  const bars = points
    .map((p, i) => {
      const y = yChanged(p.changed);
      return `<rect x="${(x(i) - step * 0.3).toFixed(1)}" y="${y.toFixed(1)}" width="${(step * 0.6).toFixed(1)}" height="${(pad.t + ih - y).toFixed(1)}" class="bar"><title>${escapeHtml(`${p.label}: ${p.changed} package versions in or out`)}</title></rect>`;
    })
    .join('');
  const line = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${yPool(p.pool).toFixed(1)}`).join(' ');
  const dots = points.map((p, i) => `<circle cx="${x(i).toFixed(1)}" cy="${yPool(p.pool).toFixed(1)}" r="3" class="dot"><title>${escapeHtml(`${p.label}: ${p.pool} pool files`)}</title></circle>`).join('');
  const every = Math.max(1, Math.ceil(points.length / 6));
  const labels = points
    .map((p, i) => (i % every === 0 || i === points.length - 1 ? `<text x="${x(i).toFixed(1)}" y="${h - pad.b + 16}" text-anchor="middle" class="tick">${escapeHtml(p.label.slice(4))}</text>` : ''))
    .join('');
  const desc = points.length ? `${points.length} serials, from ${points[0]!.label} to ${points[points.length - 1]!.label}; pool files up to ${maxPool}, packages changed up to ${maxChanged}.` : 'No serials yet.';
  return [
    `<svg viewBox="0 0 ${w} ${h}" role="img" aria-labelledby="chart-title chart-desc" class="chart" xmlns="http://www.w3.org/2000/svg">`,
    `<title id="chart-title">${escapeHtml(title)}</title><desc id="chart-desc">${escapeHtml(desc)}</desc>`,
    `<line x1="${pad.l}" y1="${pad.t + ih}" x2="${w - pad.r}" y2="${pad.t + ih}" class="axis"/>`,
    `<text x="${pad.l - 6}" y="${pad.t + 4}" text-anchor="end" class="tick pool-text">${maxPool}</text><text x="${pad.l - 6}" y="${pad.t + ih}" text-anchor="end" class="tick">0</text>`,
    `<text x="${w - pad.r + 6}" y="${pad.t + 4}" class="tick changed-text">${maxChanged}</text><text x="${w - pad.r + 6}" y="${pad.t + ih}" class="tick">0</text>`,
    bars,
    points.length ? `<path d="${line}" class="line"/>` : '',
    dots,
    labels,
    `<text x="${pad.l}" y="${h - 6}" class="legend pool-text">— pool files (left scale)</text><text x="${w - pad.r}" y="${h - 6}" text-anchor="end" class="legend changed-text">▮ package versions in + out (right scale)</text>`,
    '</svg>',
  ].join('');
}
