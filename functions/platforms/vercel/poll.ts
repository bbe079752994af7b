import { on } from './vercel.ts';

export const POST = on('poll');
// Vercel Cron calls its path with GET and `Authorization: Bearer $CRON_SECRET`; the API's
// poll is POST /poll, so the cron's request is replayed as that.
export const GET = (request: Request): Promise<Response> => POST(new Request(request.url, { method: 'POST', headers: request.headers }));
