CREATE TABLE `tasks` (
	`id` text PRIMARY KEY NOT NULL,
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
CREATE INDEX `tasks_claim_pending` ON `tasks` ("priority" desc,`run_at`,`created_at`) WHERE status = 'pending';--> statement-breakpoint
CREATE INDEX `tasks_claim_expired` ON `tasks` (`lease_expires_at`) WHERE status = 'in_progress';--> statement-breakpoint
CREATE INDEX `tasks_status_id` ON `tasks` (`status`,`id`);--> statement-breakpoint
CREATE INDEX `tasks_type_id` ON `tasks` (`type`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_idempotency_key` ON `tasks` (`idempotency_key`) WHERE idempotency_key IS NOT NULL;