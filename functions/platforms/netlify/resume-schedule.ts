import { on, type NetlifyConfig } from './netlify.ts';

export default on('resumeSchedule');
export const config: NetlifyConfig = { path: '/schedules/:name/resume', method: 'POST' };
