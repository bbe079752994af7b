CREATE TABLE `paused_types` (
	`type` text PRIMARY KEY NOT NULL,
	`paused_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tasks_finished` ON `tasks` (`status`,`completed_at`) WHERE completed_at IS NOT NULL;