/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { MinuteFinishes } from '../../tasks/insights.ts';
import { formatCount, formatTime } from '../format.ts';

const WIDTH = 720;
const HEIGHT = 170;
const LEFT = 44;
const BOTTOM = 22;
const TOP = 8;

/**
 * Completions (green) and final failures (red) per minute as stacked bars: inline SVG, no
 * script. Each bar has a <title>, so hovering shows the minute and both counts.
 */
export const FinishesChart: FC<{ minutes: MinuteFinishes[] }> = ({ minutes }) => {
  const max = Math.max(1, ...minutes.map((m) => m.completed + m.failed));
  const plotH = HEIGHT - BOTTOM - TOP;
  const slot = (WIDTH - LEFT) / Math.max(1, minutes.length);
  const y = (n: number) => (n / max) * plotH;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width="100%" role="img" aria-label="Completed and failed tasks per minute over the last hour">
        <line x1={LEFT} y1={TOP} x2={WIDTH} y2={TOP} stroke="#eef0f3" />
        <line x1={LEFT} y1={TOP + plotH / 2} x2={WIDTH} y2={TOP + plotH / 2} stroke="#eef0f3" />
        <line x1={LEFT} y1={TOP + plotH} x2={WIDTH} y2={TOP + plotH} stroke="#c5ccd4" />
        <text x={LEFT - 6} y={TOP + 4} text-anchor="end">{formatCount(max)}</text>
        <text x={LEFT - 6} y={TOP + plotH / 2 + 4} text-anchor="end">{formatCount(max / 2)}</text>
        <text x={LEFT - 6} y={TOP + plotH + 4} text-anchor="end">0</text>
        {minutes.map((m, i) => {
          const x = LEFT + i * slot + 1;
          const w = Math.max(1, slot - 2);
          const hc = y(m.completed);
          const hf = y(m.failed);
          return (
            <g data-minute={String(m.minute)}>
              <title>{`${formatTime(m.minute).slice(11, 16)} UTC: ${formatCount(m.completed)} completed, ${formatCount(m.failed)} failed`}</title>
              <rect x={x} y={TOP + plotH - hc} width={w} height={hc} fill="#3aa36a" />
              <rect x={x} y={TOP + plotH - hc - hf} width={w} height={hf} fill="#d9534f" />
            </g>
          );
        })}
        <text x={LEFT} y={HEIGHT - 6}>{minutes[0] ? `${formatTime(minutes[0].minute).slice(11, 16)} UTC` : ''}</text>
        <text x={WIDTH} y={HEIGHT - 6} text-anchor="end">now</text>
      </svg>
      <figcaption class="legend">
        <span><i class="sw-ok"></i>completed</span>
        <span><i class="sw-bad"></i>failed (no attempts left)</span>
      </figcaption>
    </figure>
  );
};
