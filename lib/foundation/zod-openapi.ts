import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import * as z from 'zod';

/**
 * Gives zod's schemas `.openapi(…)` (@asteasolutions/zod-to-openapi), which the API's schemas
 * call as they are defined: a module that defines schemas imports this one for that effect
 * (`import '../foundation/zod-openapi.ts'`), and package.json's `sideEffects` names it so that no
 * bundler drops the import.
 *
 * The extension reads only `ZodType` from what it is given, so it gets only that. Handing it
 * zod's whole namespace (as `@hono/zod-openapi` does with `import { z } from 'zod'`) makes
 * every bundler keep all of zod, the ~50 locales and the JSON Schema code included, in every
 * Worker built from this package (docs/package.md, "Bundle size").
 */
extendZodWithOpenApi({ ZodType: z.ZodType } as typeof z);
