/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import { Layout, type PageContext } from './layout.tsx';

/** An error or refusal, as a page: what happened and where to go. */
export const MessagePage: FC<{ title: string; message: string; page: PageContext | null; status: number }> = ({ title, message, page, status }) => (
  <Layout title={title} section="none" page={page}>
    <h1>{title}</h1>
    <div class="error" data-status={String(status)}>{message}</div>
    <p>
      <a href="/ui">Back to the overview</a>
    </p>
  </Layout>
);
