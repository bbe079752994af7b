import { on, type NetlifyConfig } from './netlify.ts';

export default on('getSchedule');
export const config: NetlifyConfig = { path: '/schedules/:name', method: 'GET' };
