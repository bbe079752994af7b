import { on, type NetlifyConfig } from './netlify.ts';

export default on('cancelRun');
export const config: NetlifyConfig = { path: '/runs/:id/cancel', method: 'POST' };
