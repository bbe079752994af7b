import { on } from './vercel.ts';

export const GET = on('getWorkflow');
export const PUT = on('putWorkflow');
export const DELETE = on('deleteWorkflow');
