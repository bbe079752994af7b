import { on, type NetlifyConfig } from './netlify.ts';

export default on('listSchedules');
export const config: NetlifyConfig = { path: '/schedules', method: 'GET' };
