import { on, type NetlifyConfig } from './netlify.ts';

export default on('resumeType');
export const config: NetlifyConfig = { path: '/types/:type/resume', method: 'POST' };
