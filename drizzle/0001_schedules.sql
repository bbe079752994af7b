CREATE TABLE `schedules` (
	`name` text PRIMARY KEY NOT NULL,
	`cron` text NOT NULL,
	`timezone` text DEFAULT 'UTC' NOT NULL,
	`task` text NOT NULL,
	`missed` text DEFAULT 'once' NOT NULL,
	`paused` integer DEFAULT 0 NOT NULL,
	`next_run_at` integer,
	`last_run_at` integer,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `schedules_due` ON `schedules` (`next_run_at`) WHERE paused = 0;