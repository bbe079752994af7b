CREATE TABLE `paused_types` (
	`type` text PRIMARY KEY NOT NULL,
	`paused_at` integer NOT NULL
);
