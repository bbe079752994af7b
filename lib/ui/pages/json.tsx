/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import { formatBytes, prettyJson } from '../format.ts';

/** What a block shows before "show all": a few lines, so a page stays readable. */
const PREVIEW_LINES = 8;
const PREVIEW_CHARS = 400;
/** A step's output on one line: the timeline stays a chart, not a wall of JSON. */
const LINE_CHARS = 140;
/** The most a block shows at all: a step's output may be up to WORKFLOW_MAX_STEP_BYTES, a page has many. */
export const JSON_SHOWN_CHARS = 64 * 1024;

const Toggle: FC<{ text: string }> = ({ text }) => (
  <>
    <span class="json-toggle json-more">show all ({text.split('\n').length} lines, {formatBytes(text.length)})</span>
    <span class="json-toggle json-less">show less</span>
  </>
);

const Whole: FC<{ text: string; full?: string }> = ({ text, full }) =>
  text.length > JSON_SHOWN_CHARS ? (
    <>
      <pre>{`${text.slice(0, JSON_SHOWN_CHARS)}…`}</pre>
      <p class="note">Cut at {formatBytes(JSON_SHOWN_CHARS)}; {full ?? 'the API'} returns all of it.</p>
    </>
  ) : (
    <pre>{text}</pre>
  );

/**
 * A JSON value for reading: indented, and a long one shows its first lines and expands to the
 * whole (a <details>, so without JavaScript too), cut at JSON_SHOWN_CHARS. `line`: on one
 * line after `label` (a step's output in the timeline), expanding to the indented whole.
 * Text, never markup: hono/jsx escapes it. `full` names where the uncut value is.
 */
export const JsonBlock: FC<{ value: unknown; id?: string; full?: string; line?: boolean; label?: string }> = ({ value, id, full, line, label }) => {
  const text = prettyJson(value);
  if (line) {
    const compact = JSON.stringify(value) ?? 'null';
    const head = label ? <span class="json-label">{label}</span> : null;
    if (compact.length <= LINE_CHARS) return <div class="json-line" id={id}>{head}<code>{compact}</code></div>;
    return (
      <details class="json" id={id}>
        <summary>
          <span class="json-line json-preview-line">{head}<code>{compact.slice(0, LINE_CHARS)}…</code></span>
          <Toggle text={text} />
        </summary>
        <Whole text={text} full={full} />
      </details>
    );
  }
  const lines = text.split('\n');
  if (lines.length <= PREVIEW_LINES && text.length <= PREVIEW_CHARS) return <pre id={id} class="json">{text}</pre>;
  return (
    <details class="json" id={id}>
      <summary>
        <span class="json-preview mono">{lines.slice(0, PREVIEW_LINES).join('\n').slice(0, PREVIEW_CHARS)}…</span>
        <Toggle text={text} />
      </summary>
      <Whole text={text} full={full} />
    </details>
  );
};
