import { on } from './vercel.ts';

export const GET = on('getTask');
export const DELETE = on('deleteTask');
