import type { Handler } from 'hono';
import { AppError } from '../foundation/errors.ts';

/**
 * The dashboard's static files, served from /ui/assets/ by the server itself (no CDN, no build
 * step): the style sheet, a few lines of progressive enhancement, the icon. The Content
 * Security Policy (security-headers.ts) allows scripts and styles from 'self' only, so nothing here
 * is inline in a page.
 */
const STYLE = `
:root{--fg:#1d232b;--muted:#5d6b7a;--line:#dfe3e8;--bg:#f6f7f9;--card:#fff;--accent:#2f5fd0;--ok:#1f8a4c;--bad:#c23b32;--warn:#a86400;--info:#6b5bd2}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;align-items:center;gap:8px 24px;padding:10px 24px;background:#1d232b;color:#fff}
header .brand{font-weight:700;letter-spacing:.02em}
header nav{display:flex;flex-wrap:wrap;gap:4px;flex:1;min-width:0}
header nav a{color:#c9d1db;text-decoration:none;padding:6px 10px;border-radius:6px}
header nav a[aria-current=page]{background:#36404c;color:#fff}
header form{margin:0}
header button{background:none;border:1px solid #55606c;color:#c9d1db;padding:4px 10px;border-radius:6px;cursor:pointer}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#e8ebef;color:var(--muted)}
.badge.ro{background:#fff3d6;color:var(--warn)}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:20px;margin:4px 0 16px}
h2{font-size:15px;margin:0 0 10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px;margin-bottom:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin-bottom:16px}
.stat{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px;text-decoration:none;color:inherit;display:block}
.stat .n{font-size:24px;font-weight:700}
.stat .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.cols>*{min-width:0}
@media (max-width:900px){.cols{grid-template-columns:1fr}}
.table-scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%}
td.time{white-space:nowrap}
td .actions{flex-wrap:nowrap}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;text-transform:uppercase;letter-spacing:.03em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr:hover td{background:#fafbfc}
a{color:var(--accent)}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:#f3f5f8;border:1px solid var(--line);border-radius:8px;padding:10px;overflow:auto;max-height:420px;margin:0;white-space:pre-wrap;word-break:break-word}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.s-pending{background:#e8eefc;color:var(--accent)}.s-in_progress{background:#efeafd;color:var(--info)}
.s-completed{background:#e3f4ea;color:var(--ok)}.s-failed{background:#fbe6e4;color:var(--bad)}.s-cancelled{background:#eceef1;color:var(--muted)}
.s-waiting{background:#e8eefc;color:var(--accent)}.s-retrying{background:#fdf0dc;color:var(--warn)}.s-paused{background:#fff3d6;color:var(--warn)}.s-active{background:#e3f4ea;color:var(--ok)}
form.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:3px}
input,select{font:inherit;padding:5px 8px;border:1px solid #c5ccd4;border-radius:6px;background:#fff;color:var(--fg)}
button,.button{font:inherit;padding:6px 12px;border-radius:6px;border:1px solid #c5ccd4;background:#fff;color:var(--fg);cursor:pointer;text-decoration:none;display:inline-block}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button.danger{background:#fff;border-color:#e3aaa5;color:var(--bad)}
.actions{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:10px 0}
.muted{color:var(--muted)}
.note{font-size:12.5px;color:var(--muted);margin:8px 0 0}
.notice{background:#e3f4ea;border:1px solid #b9e0c8;color:#14532d;border-radius:8px;padding:8px 12px;margin-bottom:14px}
.error{background:#fbe6e4;border:1px solid #f0bdb8;color:#7a1f18;border-radius:8px;padding:8px 12px;margin-bottom:14px}
.progress{display:flex;align-items:center;gap:10px}.progress progress{flex:1;height:14px}
tr.attempt-error td{padding-top:0}
.why{border-left:4px solid var(--accent);background:#f3f6fd;padding:10px 14px;border-radius:6px;margin-bottom:16px}
dl.fields{display:grid;grid-template-columns:180px 1fr;gap:4px 16px;margin:0}
dl.fields dt{color:var(--muted)}dl.fields dd{margin:0;overflow-wrap:anywhere}
.pager{display:flex;justify-content:space-between;align-items:center;margin-top:10px}
.chart text{font-size:10px;fill:#5d6b7a}
.legend{display:flex;flex-wrap:wrap;gap:6px 14px;font-size:12px;color:var(--muted);margin-top:6px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.sw-ok{background:#3aa36a}.sw-bad{background:#d9534f}
figure.chart{margin:0}
.login{max-width:380px;margin:80px auto}
.login input{width:100%;margin:6px 0 12px}
.truncate{max-width:460px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
textarea{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;padding:5px 8px;border:1px solid #c5ccd4;border-radius:6px;width:100%}
ul.waits{margin:6px 0 0;padding-left:18px}
form.send-event{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:8px 12px;align-items:end;margin-top:10px;padding-top:10px;border-top:1px solid #d5dcea}
form.send-event label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:3px;min-width:0}
form.send-event .wide{grid-column:1/-1}
details.json>summary{list-style:none;cursor:pointer}
details.json>summary::-webkit-details-marker{display:none}
.json-preview{display:block;white-space:pre-wrap;word-break:break-word;background:#f3f5f8;border:1px solid var(--line);border-radius:8px;padding:10px}
.json-toggle{display:inline-block;margin-top:4px;font-size:12px;color:var(--accent)}
details.json[open] .json-preview,details.json[open] .json-preview-line,details.json[open] .json-more,details.json:not([open]) .json-less{display:none}
.json-line{display:flex;gap:8px;align-items:baseline;min-width:0}
.json-line code{min-width:0;white-space:pre-wrap;overflow-wrap:anywhere;color:#33404d}
.json-label{font-size:12px;color:var(--muted);white-space:nowrap}
details.json>summary .json-line+.json-toggle{margin-top:0}
.timeline{list-style:none;margin:0;padding:0}
.tl-axis,.tl-row{display:grid;grid-template-columns:minmax(0,230px) minmax(0,1fr);gap:4px 14px}
.tl-axis{font-size:11.5px;color:var(--muted);padding-bottom:4px;border-bottom:1px solid var(--line)}
.tl-ticks{display:flex;justify-content:space-between;gap:8px}
.tl-row{grid-template-rows:auto 1fr;padding:8px 0;border-bottom:1px solid var(--line);align-items:start}
.tl-label{grid-row:1/span 2;min-width:0;overflow-wrap:anywhere}
.tl-name{font-weight:600}
.tl-meta{font-size:12px;color:var(--muted)}
.tl-what{font-size:12.5px}
.tl-track{grid-column:2;grid-row:1;position:relative;height:22px;background:#f3f5f8;border-radius:4px}
.tl-bar{position:absolute;top:3px;bottom:3px;min-width:3px;border-radius:3px}
.tl-done{background:#3aa36a}
.tl-failed{background:#d9534f}
.tl-gap{background:repeating-linear-gradient(135deg,#b8c2cf 0 3px,#eef1f5 3px 7px);border:1px solid #aab4c2}
.tl-waiting{background:repeating-linear-gradient(135deg,#7d9be0 0 3px,#e6ecfa 3px 7px);border:1px solid #6d8bd6}
.tl-retry{background:repeating-linear-gradient(135deg,#e0a040 0 3px,#fbefd9 3px 7px);border:1px solid #d08a20}
.tl-detail{grid-column:2;grid-row:2;min-width:0}
td .actions{margin:0}
table.rows-middle td{vertical-align:middle}
td.waits-cell{min-width:260px}
pre.step-error{background:#fbe6e4;border-color:#f0bdb8;color:#7a1f18}
.sw-gap{background:#b8c2cf}.sw-waiting{background:#7d9be0}.sw-retry{background:#e0a040}
@media (max-width:600px){
header{padding:8px 12px;gap:6px 12px}
header nav{order:3;flex-basis:100%}
header nav a{padding:6px 8px}
.tl-axis,.tl-row,form.send-event{grid-template-columns:minmax(0,1fr)}
.tl-row{grid-template-rows:auto}
.tl-label,.tl-track,.tl-detail{grid-column:1;grid-row:auto}
.tl-axis>:first-child{display:none}
main{padding:12px 12px 32px}
.card{padding:12px}
.grid{grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:8px}
dl.fields{grid-template-columns:1fr}
dl.fields dt{margin-top:6px}
.truncate{max-width:55vw}
.pager{flex-wrap:wrap;gap:8px}
.login{margin:24px auto}
}
`;

// Progressive enhancement only: every form works without it.
const SCRIPT = `
document.addEventListener('change', function (event) {
  var box = event.target;
  if (!box.matches || !box.matches('input[data-select-page]')) return;
  var boxes = box.form.querySelectorAll('input[name="id"]');
  for (var i = 0; i < boxes.length; i++) boxes[i].checked = box.checked;
});
`;

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2f5fd0"/><path d="M4 5h8M4 8h8M4 11h5" stroke="#fff" stroke-width="1.6" stroke-linecap="round"/></svg>`;

/**
 * A timeline bar's left edge and width (pages/timeline.tsx) in steps of 0.5% of the run's span,
 * as classes: the CSP allows no inline style, so a bar cannot carry `style="left:…"`. 402 short
 * rules, made here rather than written out.
 */
export const TIMELINE_STEPS = 200;
const TIMELINE_POSITIONS = Array.from({ length: TIMELINE_STEPS + 1 }, (_, i) => `.tl-l${i}{left:${i / 2}%}.tl-w${i}{width:${i / 2}%}`).join('\n');

export const ASSETS: Record<string, { body: string; type: string }> = {
  'style.css': { body: `${STYLE.trim()}\n${TIMELINE_POSITIONS}`, type: 'text/css; charset=utf-8' },
  'app.js': { body: SCRIPT.trim(), type: 'text/javascript; charset=utf-8' },
  'icon.svg': { body: ICON, type: 'image/svg+xml' },
};

/** Bumped with the assets so a cached old copy is never used (they are cached for a day). */
export const ASSET_VERSION = '3';

/**
 * `GET /ui/assets/:name`: public (the login page needs them too), cached for a day, and never
 * rate limited: a page view is counted once, not once per file it loads.
 */
export const serveAsset: Handler = (c) => {
  const asset = ASSETS[c.req.param('name') ?? ''];
  if (!asset) throw new AppError(404, 'not_found', 'no such asset');
  return c.body(asset.body, 200, { 'Content-Type': asset.type, 'Cache-Control': 'public, max-age=86400' });
};

/** `GET /favicon.ico`: the icon (SVG; browsers go by the Content-Type), like the assets. */
export const serveIcon: Handler = (c) => {
  const icon = ASSETS['icon.svg']!;
  return c.body(icon.body, 200, { 'Content-Type': icon.type, 'Cache-Control': 'public, max-age=86400', 'X-Content-Type-Options': 'nosniff' });
};
