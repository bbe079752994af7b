import { on, type NetlifyConfig } from './netlify.ts';

export default on('triggerSchedule');
export const config: NetlifyConfig = { path: '/schedules/:name/trigger', method: 'POST' };
