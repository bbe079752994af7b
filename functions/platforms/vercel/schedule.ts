import { on } from './vercel.ts';

export const GET = on('getSchedule');
export const PUT = on('putSchedule');
export const DELETE = on('deleteSchedule');
