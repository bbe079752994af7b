import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The `http-delivery` scenario's receiver, in its own process so it does not share an event
 * loop with what is measured: answers every request 200 `{"ok":true}` as soon as its body
 * has arrived, and counts requests. Prints `PORT <n>` once listening; on SIGTERM prints
 * `COUNT <n>` and exits.
 *
 *   node --import tsx bench/receiver.ts
 */
let count = 0;
const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    count++;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '11' });
    res.end('{"ok":true}');
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => {
  process.stdout.write(`COUNT ${count}\n`);
  process.exit(0);
});
