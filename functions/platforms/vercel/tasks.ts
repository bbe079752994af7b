import { on } from './vercel.ts';

export const GET = on('listTasks');
export const POST = on('createTask');
