import { on, type NetlifyConfig } from './netlify.ts';

export default on('deleteSchedule');
export const config: NetlifyConfig = { path: '/schedules/:name', method: 'DELETE' };
