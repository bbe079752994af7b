import { on, type NetlifyConfig } from './netlify.ts';

export default on('listAttempts');
export const config: NetlifyConfig = { path: '/tasks/:id/attempts', method: 'GET' };
