import { on, type NetlifyConfig } from './netlify.ts';

export default on('putSchedule');
export const config: NetlifyConfig = { path: '/schedules/:name', method: 'PUT' };
