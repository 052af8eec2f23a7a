/** Charts (Chart.js, bundled): lines over time with optional severity bands behind them, and bars. */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type Plugin,
} from 'chart.js';
import { dayOf, h, pct as percent } from './dom';

Chart.register(
  LineController,
  LineElement,
  PointElement,
  BarController,
  BarElement,
  CategoryScale,
  LinearScale,
  Tooltip,
  Legend,
);

export interface Band {
  band: string;
  from: number;
  to: number;
}

const BAND_COLOURS = ['#e8f5e9', '#fff8e1', '#ffecb3', '#ffe0b2', '#ffcdd2'];
const LINE_COLOURS = ['#1a5fb4', '#c64600', '#26a269', '#813d9c', '#5e5c64'];
/** One colour per tier in every chart: engaged green, at-risk amber, disengaged red, unknown grey. */
export const TIER_COLOURS: Record<string, string> = {
  engaged: '#26a269',
  'at-risk': '#e5a50a',
  disengaged: '#c01c28',
  unknown: '#77767b',
};
/** A series' colour: its tier's when it is one, else the next of the palette. */
const colourOf = (label: string, i: number): string =>
  TIER_COLOURS[label] ?? (LINE_COLOURS[i % LINE_COLOURS.length] as string);

/** Shades each band's score range behind the data (PHQ-9, GAD-7 severity). */
function bandsPlugin(bands: Band[]): Plugin<'line'> {
  return {
    id: 'bands',
    beforeDatasetsDraw(chart) {
      const { ctx, chartArea, scales } = chart;
      const y = scales.y;
      if (!y) return;
      ctx.save();
      bands.forEach((b, i) => {
        const top = y.getPixelForValue(b.to + 0.5);
        const bottom = y.getPixelForValue(Math.max(0, b.from - 0.5));
        ctx.fillStyle = BAND_COLOURS[Math.min(i, BAND_COLOURS.length - 1)] as string;
        ctx.fillRect(chartArea.left, top, chartArea.right - chartArea.left, bottom - top);
      });
      ctx.restore();
    },
  };
}

const day = dayOf;

/**
 * A figure holding a chart and, for screen readers and for the record, a
 * text summary of the same data (canvas content is not accessible).
 */
export function lineChart(
  title: string,
  series: { label: string; points: { date: string; value: number }[] }[],
  options: { bands?: Band[]; max?: number; min?: number; percent?: boolean; testId?: string } = {},
): HTMLElement {
  const canvas = h('canvas', { role: 'img', 'aria-label': title, 'data-testid': options.testId });
  const dates = [...new Set(series.flatMap((s) => s.points.map((p) => p.date)))].sort();
  const summary = series
    .map(
      (s) =>
        `${s.label}: ${s.points.length ? s.points.map((p) => `${day(p.date)} ${options.percent ? percent(p.value) : p.value}`).join(', ') : 'no data'}`,
    )
    .join('; ');
  // An empty chart would read as zero: say there is nothing yet instead of drawing axes.
  if (dates.length === 0)
    return h(
      'figure',
      { class: 'chart', 'data-testid': options.testId },
      h('figcaption', {}, title),
      h('p', { class: 'no-data' }, 'No data yet.'),
    );
  const figure = h(
    'figure',
    { class: 'chart' },
    h('figcaption', {}, title),
    h('div', { class: 'canvas-box' }, canvas),
    h('p', { class: 'visually-hidden' }, summary),
  );
  if (options.bands?.length) {
    figure.append(
      h(
        'p',
        { class: 'legend-bands' },
        'Bands: ',
        options.bands.map((b, i) => h('span', { class: `band band-${Math.min(i, 4)}` }, `${b.band} ${b.from}–${b.to}`)),
      ),
    );
  }
  new Chart(canvas, {
    type: 'line',
    data: {
      labels: dates.map(day),
      datasets: series.map((s, i) => ({
        label: s.label,
        data: dates.map((d) => s.points.find((p) => p.date === d)?.value ?? null),
        borderColor: colourOf(s.label, i),
        backgroundColor: colourOf(s.label, i),
        spanGaps: true,
        tension: 0.2,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: {
        y: {
          min: options.min ?? 0,
          max: options.max,
          ticks: options.percent ? { callback: (v) => `${Math.round(Number(v) * 100)} %` } : {},
        },
      },
      plugins: { legend: { display: series.length > 1 } },
    },
    plugins: options.bands ? [bandsPlugin(options.bands)] : [],
  });
  return figure;
}

export function barChart(title: string, labels: string[], values: number[], testId?: string): HTMLElement {
  const canvas = h('canvas', { role: 'img', 'aria-label': title, 'data-testid': testId });
  const figure = h(
    'figure',
    { class: 'chart' },
    h('figcaption', {}, title),
    h('div', { class: 'canvas-box' }, canvas),
    h('p', { class: 'visually-hidden' }, labels.map((l, i) => `${l}: ${values[i]}`).join('; ')),
  );
  new Chart(canvas, {
    type: 'bar',
    data: {
      labels,
      datasets: [{ label: title, data: values, backgroundColor: labels.map((l, i) => colourOf(l, i)) }],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
  return figure;
}
