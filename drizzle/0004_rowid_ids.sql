PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_tasks` (
	`id` integer PRIMARY KEY NOT NULL,
	`legacy_id` text,
	`title` text NOT NULL,
	`description` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`type` text DEFAULT 'simulate' NOT NULL,
	`payload` text,
	`priority` integer DEFAULT 0 NOT NULL,
	`run_at` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`max_attempts` integer NOT NULL,
	`lease_expires_at` integer,
	`locked_by` text,
	`last_error` text,
	`result` text,
	`idempotency_key` text,
	`request_hash` text,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`completed_at` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
-- Hand-edited (drizzle-kit writes a plain copy; see README "Upgrading" and lib/tasks/ids.ts).
-- Each old row keeps its order: id = (ms - EPOCH) * 4096 + its rank among the rows of its
-- millisecond by old id, where ms is the UUIDv7's 48-bit timestamp (the first 12 hex digits)
-- and EPOCH is 2025-01-01T00:00:00Z (1735689600000), as for new ids. A row whose old id is not
-- a lower-case UUIDv7 (made by hand) takes its created_at as ms; an ms before EPOCH counts as
-- EPOCH. legacy_id keeps the old id, so it still resolves. More than 4,096 rows in one
-- millisecond would collide on the primary key and fail the migration as a whole (nothing
-- changes); the uuid counter never made that many here.
INSERT INTO `__new_tasks`("id", "legacy_id", "title", "description", "status", "version", "type", "payload", "priority", "run_at", "attempts", "max_attempts", "lease_expires_at", "locked_by", "last_error", "result", "idempotency_key", "request_hash", "created_at", "started_at", "completed_at", "updated_at") SELECT
    (ms - 1735689600000) * 4096 + row_number() OVER (PARTITION BY ms ORDER BY "id") - 1, "id", "title", "description", "status", "version", "type", "payload", "priority", "run_at", "attempts", "max_attempts", "lease_expires_at", "locked_by", "last_error", "result", "idempotency_key", "request_hash", "created_at", "started_at", "completed_at", "updated_at"
  FROM (SELECT *, max(1735689600000, CASE
      WHEN length(id) = 36 AND substr(id, 15, 1) = '7' AND substr(id, 9, 1) = '-'
        AND NOT (substr(id, 1, 8) || substr(id, 10, 4)) GLOB '*[^0-9a-f]*'
      THEN (instr('0123456789abcdef', substr(id, 1, 1)) - 1) * 17592186044416 +
        (instr('0123456789abcdef', substr(id, 2, 1)) - 1) * 1099511627776 +
        (instr('0123456789abcdef', substr(id, 3, 1)) - 1) * 68719476736 +
        (instr('0123456789abcdef', substr(id, 4, 1)) - 1) * 4294967296 +
        (instr('0123456789abcdef', substr(id, 5, 1)) - 1) * 268435456 +
        (instr('0123456789abcdef', substr(id, 6, 1)) - 1) * 16777216 +
        (instr('0123456789abcdef', substr(id, 7, 1)) - 1) * 1048576 +
        (instr('0123456789abcdef', substr(id, 8, 1)) - 1) * 65536 +
        (instr('0123456789abcdef', substr(id, 10, 1)) - 1) * 4096 +
        (instr('0123456789abcdef', substr(id, 11, 1)) - 1) * 256 +
        (instr('0123456789abcdef', substr(id, 12, 1)) - 1) * 16 +
        (instr('0123456789abcdef', substr(id, 13, 1)) - 1) * 1
      ELSE created_at END) AS ms FROM `tasks`);--> statement-breakpoint
DROP TABLE `tasks`;--> statement-breakpoint
ALTER TABLE `__new_tasks` RENAME TO `tasks`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `tasks_claim_pending` ON `tasks` ("priority" desc,`run_at`,`id`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `tasks_claim_expired` ON `tasks` (`lease_expires_at`) WHERE status = 'in_progress';--> statement-breakpoint
CREATE INDEX `tasks_status_id` ON `tasks` (`status`);--> statement-breakpoint
CREATE INDEX `tasks_type_id` ON `tasks` (`type`);--> statement-breakpoint
CREATE INDEX `tasks_finished` ON `tasks` (`status`,`completed_at`,`type`,`started_at`) WHERE completed_at IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_idempotency_key` ON `tasks` (`idempotency_key`) WHERE idempotency_key IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_legacy_id` ON `tasks` (`legacy_id`) WHERE legacy_id IS NOT NULL;