CREATE TABLE `remote_workflows` (
	`name` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`signing_secret` text,
	`timeout_seconds` integer NOT NULL,
	`max_per_host` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
