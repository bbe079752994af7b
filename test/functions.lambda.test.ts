import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskJson } from '../lib/tasks/model.ts';
import { useBundles } from './bundles.ts';
import { sqldAvailable, useSqld } from './sqld.ts';

/**
 * The built Lambda bundle (dist/lambda/index.mjs, the SAM template's CodeUri) invoked the way
 * the Lambda runtime does: `handler(event, context)` with an API Gateway HTTP API (v2) event
 * and an EventBridge scheduled event, as AWS sends them (test/fixtures/aws/), against sqld.
 */
const available = await sqldAvailable();

const fixture = (name: string, replace: Record<string, string> = {}): unknown => {
  let text = readFileSync(new URL(`./fixtures/aws/${name}`, import.meta.url), 'utf8');
  for (const [from, to] of Object.entries(replace)) text = text.replaceAll(from, to);
  return JSON.parse(text);
};

const lambdaContext = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'task-pool-TaskPoolFunction',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:task-pool-TaskPoolFunction',
  memoryLimitInMB: '512',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/task-pool-TaskPoolFunction',
  logStreamName: '2026/11/27/[$LATEST]0123456789abcdef',
  getRemainingTimeInMillis: () => 60_000,
};

type Handler = (event: unknown, context: unknown) => Promise<{ statusCode?: number; body?: string; headers?: Record<string, string> } & Record<string, unknown>>;

describe.skipIf(!available)('AWS Lambda bundle', () => {
  const sqld = useSqld();
  const bundles = useBundles(['lambda']);
  let handler: Handler;
  const saved = { ...process.env };

  beforeAll(async () => {
    // Lambda hands configuration to the function as environment variables.
    Object.assign(process.env, { DATABASE_URL: sqld.url, SIMULATE_MIN_MS: '0', SIMULATE_MAX_MS: '0', LOG_LEVEL: 'warn', POLL_BUDGET_SECONDS: '5', RATE_LIMIT_PER_MINUTE: '0' });
    ({ handler } = (await import(pathToFileURL(bundles.path('lambda', 'index.mjs')).href)) as { handler: Handler });
  });
  afterAll(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('creates and gets a task through API Gateway v2 events, and the scheduled event polls it to completion', async () => {
    const created = await handler(fixture('apigw-v2-post-tasks.json'), lambdaContext);
    expect(created.statusCode).toBe(202);
    expect(created.headers?.['content-type']).toMatch(/application\/json/);
    const task = JSON.parse(created.body!) as TaskJson;
    expect(task).toMatchObject({ title: 'from lambda', description: 'api gateway', status: 'pending' });

    const got = await handler(fixture('apigw-v2-get-task.json', { TASK_ID: task.id }), lambdaContext);
    expect(got.statusCode).toBe(200);
    expect(JSON.parse(got.body!)).toMatchObject({ id: task.id, status: 'pending' });

    const summary = await handler(fixture('eventbridge-scheduled.json'), lambdaContext);
    expect(summary).toMatchObject({ claimed: 1, completed: 1, failed: 0, released: 0 });

    const after = JSON.parse((await handler(fixture('apigw-v2-get-task.json', { TASK_ID: task.id }), lambdaContext)).body!) as TaskJson;
    expect(after).toMatchObject({ status: 'completed', attempts: 1 });
    expect(after.locked_by).toMatch(/^lambda:/);
  });

  it('answers an unknown id with 404 JSON through the same event shape', async () => {
    const missing = await handler(fixture('apigw-v2-get-task.json', { TASK_ID: '00000000-0000-7000-8000-000000000000' }), lambdaContext);
    expect(missing.statusCode).toBe(404);
    expect(JSON.parse(missing.body!)).toEqual({ message: 'task not found', code: 'not_found' });
  });
});
