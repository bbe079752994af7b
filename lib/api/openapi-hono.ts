import { getOpenApiMetadata, OpenAPIRegistry, OpenApiGeneratorV3, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { createRoute as createRouteType, OpenAPIHono as OpenAPIHonoType, RouteConfig } from '@hono/zod-openapi';
import { zValidator } from '@hono/zod-validator';
import { Hono, type Context, type Env, type MiddlewareHandler, type Next, type Schema } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { mergePath } from 'hono/utils/url';
import '../foundation/zod-openapi.ts';

/**
 * `OpenAPIHono` and `createRoute` of @hono/zod-openapi (MIT), ported so that the module that
 * builds the API does not import that package at run time: its module runs
 * `extendZodWithOpenApi(z)` with zod's whole namespace (`import { z } from 'zod'`), and a
 * namespace passed as a value keeps every export of zod in any bundle, whatever bundler or
 * config builds it: a user's own Worker built from this package went over its size budget
 * (docs/package.md, "Bundle size", has the figures). The extension itself is
 * lib/foundation/zod-openapi.ts.
 *
 * The types are @hono/zod-openapi's own (`import type`, gone from any bundle), so routes,
 * handlers and the typed client (lib/client/) infer exactly as they did; every member of its
 * class is ported with its behaviour, following @hono/zod-openapi 1.6.3. test/docs.test.ts and
 * the route tests hold the validation and the OpenAPI document.
 */

type AnyHandler = (c: Context, next: Next) => unknown;
type ValidationHook = (result: { success: boolean; target: string }, c: Context) => unknown;
interface Route {
  method: string;
  path: string;
  hide?: boolean;
  middleware?: MiddlewareHandler | MiddlewareHandler[];
  request?: {
    query?: unknown;
    params?: unknown;
    headers?: unknown;
    cookies?: unknown;
    body?: { required?: boolean; content?: Record<string, { schema?: unknown } | undefined> };
  };
}
type RegistryDefinition = OpenAPIRegistry['definitions'][number];
// zValidator's generics are its caller's concern; here it validates whatever the route declares.
const validate = zValidator as unknown as (target: string, schema: unknown, hook: ValidationHook) => MiddlewareHandler;

class OpenAPIHonoPort extends Hono {
  openAPIRegistry: OpenAPIRegistry;
  defaultHook: ValidationHook | undefined;
  #parentApp: OpenAPIHonoPort | undefined;

  constructor(init?: ConstructorParameters<typeof Hono>[0] & { defaultHook?: ValidationHook }) {
    super(init);
    this.openAPIRegistry = new OpenAPIRegistry();
    this.defaultHook = init?.defaultHook;
  }

  #resolveDefaultHook(): ValidationHook | undefined {
    if (this.defaultHook) return this.defaultHook;
    const seen = new Set<OpenAPIHonoPort>([this]);
    let parent = this.#parentApp;
    while (parent && !seen.has(parent)) {
      if (parent.defaultHook) return parent.defaultHook;
      seen.add(parent);
      parent = parent.#parentApp;
    }
    return undefined;
  }

  openapi = ({ middleware: routeMiddleware, hide, ...route }: Route, handler: AnyHandler, hook?: ValidationHook): this => {
    if (!hide) this.openAPIRegistry.registerPath(route as RouteConfig);
    const effectiveHook: ValidationHook =
      hook ??
      ((result, c) => {
        const resolved = this.#resolveDefaultHook();
        return resolved ? resolved(result, c) : undefined;
      });
    const validators: MiddlewareHandler[] = [];
    const request = route.request;
    if (request?.query) validators.push(validate('query', request.query, effectiveHook));
    if (request?.params) validators.push(validate('param', request.params, effectiveHook));
    if (request?.headers) validators.push(validate('header', request.headers, effectiveHook));
    if (request?.cookies) validators.push(validate('cookie', request.cookies, effectiveHook));
    const bodyContent = request?.body?.content;
    if (bodyContent) {
      const declaredMediaTypes = Object.keys(bodyContent);
      const validated = declaredMediaTypes.some(
        (mediaType) => isZod(bodyContent[mediaType]?.schema) && (isJSONContentType(mediaType) || isFormContentType(mediaType)),
      );
      if (validated) {
        validators.push(async (c, next) => {
          const contentType = c.req.header('content-type');
          if (contentType) {
            if (!declaredMediaTypes.some((mediaType) => matchesMediaType(contentType, mediaType))) throw new HTTPException(415, { message: 'Unsupported Media Type' });
          } else if (await hasRequestBody(c)) {
            throw new HTTPException(415, { message: 'Unsupported Media Type' });
          }
          await next();
        });
      }
      for (const mediaType of declaredMediaTypes) {
        const schema = bodyContent[mediaType]?.schema;
        if (!isZod(schema)) continue;
        for (const [target, matches] of [
          ['json', isJSONContentType],
          ['form', isFormContentType],
        ] as const) {
          if (!matches(mediaType)) continue;
          const validator = validate(target, schema, effectiveHook);
          if (request?.body?.required) {
            validators.push(validator);
          } else {
            validators.push(async (c, next) => {
              const contentType = c.req.header('content-type');
              if (contentType && matches(contentType)) return await validator(c, next);
              c.req.addValidatedData(target, {});
              await next();
            });
          }
        }
      }
    }
    const middleware = routeMiddleware ? (Array.isArray(routeMiddleware) ? routeMiddleware : [routeMiddleware]) : [];
    this.on([route.method], [route.path.replaceAll(/\/{(.+?)}/g, '/:$1')], ...middleware, ...validators, handler as MiddlewareHandler);
    return this;
  };

  openapiRoutes = (inputs: readonly { route: Route; handler: AnyHandler; hook?: ValidationHook; addRoute?: boolean }[]): this => {
    for (const { route, handler, hook, addRoute } of inputs) if (addRoute !== false) this.openapi(route, handler, hook);
    return this;
  };

  getOpenAPIDocument = (objectConfig: OpenAPIObjectConfig, generatorConfig?: GeneratorOptions) => {
    const document = new OpenApiGeneratorV3(this.openAPIRegistry.definitions, generatorConfig).generateDocument(objectConfig);
    return basePathOf(this) ? addBasePathToDocument(document, basePathOf(this)) : document;
  };

  getOpenAPI31Document = (objectConfig: OpenAPIObjectConfig, generatorConfig?: GeneratorOptions) => {
    const document = new OpenApiGeneratorV31(this.openAPIRegistry.definitions, generatorConfig).generateDocument(objectConfig);
    return basePathOf(this) ? addBasePathToDocument(document, basePathOf(this)) : document;
  };

  doc = (path: string, configureObject: Configure<OpenAPIObjectConfig>, configureGenerator?: Configure<GeneratorOptions>): this =>
    this.#serveDocument(path, (objectConfig, generatorConfig) => this.getOpenAPIDocument(objectConfig, generatorConfig), configureObject, configureGenerator);

  doc31 = (path: string, configureObject: Configure<OpenAPIObjectConfig>, configureGenerator?: Configure<GeneratorOptions>): this =>
    this.#serveDocument(path, (objectConfig, generatorConfig) => this.getOpenAPI31Document(objectConfig, generatorConfig), configureObject, configureGenerator);

  #serveDocument(
    path: string,
    generate: (objectConfig: OpenAPIObjectConfig, generatorConfig?: GeneratorOptions) => unknown,
    configureObject: Configure<OpenAPIObjectConfig>,
    configureGenerator?: Configure<GeneratorOptions>,
  ): this {
    this.get(path, (c) => {
      const objectConfig = typeof configureObject === 'function' ? configureObject(c) : configureObject;
      const generatorConfig = typeof configureGenerator === 'function' ? configureGenerator(c) : configureGenerator;
      try {
        return c.json(generate(objectConfig, generatorConfig));
      } catch (e) {
        return c.json(e, 500);
      }
    });
    return this;
  }

  // The signatures of the two overrides are the port's own (`any`): the exported type is
  // @hono/zod-openapi's, whose generics these could not restate without copying its types.
  override route(path: string, app?: any): any {
    const pathForOpenAPI = path.replaceAll(/:([^/]+)/g, '{$1}');
    super.route(path, app as Hono);
    if (!(app instanceof OpenAPIHonoPort)) return this;
    app.#parentApp ??= this;
    const prefixed = (subPath: string) => mergePath(pathForOpenAPI, basePathOf(app).replaceAll(/:([^/]+)/g, '{$1}'), subPath);
    for (const def of app.openAPIRegistry.definitions as RegistryDefinition[]) {
      switch (def.type) {
        case 'component':
          this.openAPIRegistry.registerComponent(def.componentType, def.name, def.component);
          break;
        case 'route':
          this.openAPIRegistry.registerPath({ ...def.route, path: prefixed(def.route.path) });
          break;
        case 'webhook':
          this.openAPIRegistry.registerWebhook({ ...def.webhook, path: prefixed(def.webhook.path) });
          break;
        case 'schema':
          this.openAPIRegistry.register(getOpenApiMetadata(def.schema)._internal?.refId as string, def.schema);
          break;
        case 'parameter':
          this.openAPIRegistry.registerParameter(getOpenApiMetadata(def.schema)._internal?.refId as string, def.schema);
          break;
        default:
          throw new Error(`Unknown registry type: ${String(def)}`);
      }
    }
    return this;
  }

  override basePath(path: string): any {
    const cloned = super.basePath(path) as unknown as OpenAPIHonoPort;
    const newApp = new OpenAPIHonoPort({ defaultHook: this.defaultHook });
    newApp.router = cloned.router;
    newApp.routes = cloned.routes;
    Object.assign(newApp, {
      getPath: cloned.getPath,
      errorHandler: (cloned as unknown as { errorHandler: unknown }).errorHandler,
      _basePath: basePathOf(cloned),
    });
    return newApp;
  }
}

type OpenAPIObjectConfig = Parameters<OpenApiGeneratorV3['generateDocument']>[0];
type GeneratorOptions = ConstructorParameters<typeof OpenApiGeneratorV3>[1];
type Configure<T> = T | ((c: Context) => T);

/** The class, typed as @hono/zod-openapi declares it. */
export const OpenAPIHono = OpenAPIHonoPort as unknown as typeof OpenAPIHonoType;
export type OpenAPIHono<E extends Env = Env, S extends Schema = {}, BasePath extends string = '/'> = OpenAPIHonoType<E, S, BasePath>;
export type { RouteConfig } from '@hono/zod-openapi';

/** A route declared once: method, path (`/tasks/{id}`), schemas and responses. */
export const createRoute = (<R extends RouteConfig>(routeConfig: R) => {
  const route = {
    ...routeConfig,
    getRoutingPath() {
      return routeConfig.path.replaceAll(/\/{(.+?)}/g, '/:$1');
    },
  };
  return Object.defineProperty(route, 'getRoutingPath', { enumerable: false });
}) as typeof createRouteType;

/** Hono's `_basePath`: private in its types, read by @hono/zod-openapi as by this port. */
const basePathOf = (app: Hono): string => (app as unknown as { _basePath: string })._basePath;

function isZod(x: unknown): boolean {
  if (typeof x !== 'object' || x === null) return false;
  const candidate = x as Record<string, unknown>;
  return ['parse', 'safeParse', 'parseAsync', 'safeParseAsync'].every((method) => typeof candidate[method] === 'function');
}

function addBasePathToDocument<D extends { paths?: Record<string, unknown> }>(document: D, basePath: string): D {
  const paths: Record<string, unknown> = {};
  for (const [path, item] of Object.entries(document.paths ?? {})) paths[mergePath(basePath.replaceAll(/:([^/]+)/g, '{$1}'), path)] = item;
  return { ...document, paths };
}

function isJSONContentType(contentType: string): boolean {
  return /^application\/([a-z-.]+\+)?json/i.test(contentType);
}

function isFormContentType(contentType: string): boolean {
  const lower = contentType.toLowerCase();
  return lower.startsWith('multipart/form-data') || lower.startsWith('application/x-www-form-urlencoded');
}

const jsonRequestRegex = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;
const multipartRequestRegex = /^multipart\/form-data(;\s?boundary=[a-zA-Z0-9'"()+_,\-./:=?]+)?$/i;
const urlencodedRequestRegex = /^application\/x-www-form-urlencoded(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

function matchesMediaType(contentType: string, mediaType: string): boolean {
  if (mediaType === '*/*') return true;
  if (isJSONContentType(mediaType)) return jsonRequestRegex.test(contentType);
  if (isFormContentType(mediaType)) return multipartRequestRegex.test(contentType) || urlencodedRequestRegex.test(contentType);
  const essence = contentType.split(';')[0]!.trim().toLowerCase();
  if (mediaType.endsWith('/*')) return essence.startsWith(mediaType.slice(0, -1).toLowerCase());
  return essence === mediaType.toLowerCase();
}

async function hasRequestBody(c: Context): Promise<boolean> {
  const raw = c.req.raw;
  if (raw.body === null) return false;
  if (raw.bodyUsed) return (await c.req.arrayBuffer()).byteLength > 0;
  const body = raw.clone().body;
  if (body === null) return false;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return false;
      if (value.byteLength > 0) return true;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
