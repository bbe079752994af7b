import { on, type NetlifyConfig } from './netlify.ts';

export default on('pauseSchedule');
export const config: NetlifyConfig = { path: '/schedules/:name/pause', method: 'POST' };
