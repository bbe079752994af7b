ALTER TABLE `tasks` ADD `debounce_key` text;--> statement-breakpoint
CREATE INDEX `tasks_debounce` ON `tasks` (`type`,`debounce_key`) WHERE debounce_key IS NOT NULL;