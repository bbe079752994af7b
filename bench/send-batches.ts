import { request } from 'node:http';

/**
 * Sends `concurrency` copies of one big POST /tasks/batch body at once, as its own process (so
 * the body it builds is not in the server's RSS), and prints one JSON line: each answer's
 * status, `Retry-After` and size, and how many tasks were answered 202. The body is built
 * once and sent with its Content-Length; answers are counted, not parsed.
 *
 *   node --import tsx bench/send-batches.ts <origin> <concurrency> <tasks> <payloadBytes> [string|objects]
 *
 * `string` (the default): each payload is one string of about `payloadBytes` ASCII characters.
 * `objects`: each payload is an array of small objects (`{"n":…,"tag":"…","ok":true}`, about
 * 36 bytes each) of about `payloadBytes` in all: many small values, what JSON.parse turns into
 * the most memory per byte.
 */
export interface SendBatchesResult {
  body_bytes: number;
  answers: { status: number; retry_after: string | null; bytes: number; ms: number }[];
  errors: string[];
  accepted_tasks: number;
}

const [origin, concurrencyArg, tasksArg, payloadArg, shape = 'string'] = process.argv.slice(2);
if (!origin) throw new Error('usage: send-batches.ts <origin> <concurrency> <tasks> <payloadBytes>');
const concurrency = Number(concurrencyArg ?? 1);
const tasks = Number(tasksArg ?? 1000);
const payloadBytes = Number(payloadArg ?? 58_000);

// Distinct per task, so nothing can be shared between them.
const filler = 'x'.repeat(payloadBytes);
const payload = (i: number): unknown =>
  shape === 'objects'
    ? Array.from({ length: Math.round(payloadBytes / 36) }, (_, n) => ({ n: i * 100_000 + n, tag: `t${n % 1000}`, ok: true }))
    : { i, data: `${i}:${filler}` };
const body = Buffer.from(
  JSON.stringify({ tasks: Array.from({ length: tasks }, (_, i) => ({ title: `big ${i}`, description: 'batch memory', type: 'noop', payload: payload(i) })) }),
);

// A body refused before it is read (503) is answered while it is still being sent; the server
// then reads and drops what follows for a while and closes (@hono/node-server): the write
// fails after the answer arrived. That failure is not an error of the request.
function send(): Promise<SendBatchesResult['answers'][number]> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(`${origin}/tasks/batch`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': body.byteLength } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.byteLength));
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retry_after: typeof retryAfter === 'string' ? retryAfter : null, bytes, ms: performance.now() - started });
      });
      res.on('error', reject);
    });
    req.on('socket', (socket) => socket.on('error', () => {}));
    req.on('error', reject);
    req.end(body);
  });
}

const settled = await Promise.allSettled(Array.from({ length: concurrency }, send));
const answers = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
const result: SendBatchesResult = {
  body_bytes: body.byteLength,
  answers,
  errors: settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : [])),
  accepted_tasks: answers.filter((a) => a.status === 202).length * tasks,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
