import { on } from './vercel.ts';

export const POST = on('startRun');
