import { on } from './vercel.ts';

export const GET = on('listAttempts');
