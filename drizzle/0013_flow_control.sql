CREATE TABLE `flow_keys` (
	`key` text PRIMARY KEY NOT NULL,
	`parallelism` integer,
	`rate` integer,
	`period_ms` integer
);
--> statement-breakpoint
DROP INDEX `tasks_claim_pending`;--> statement-breakpoint
ALTER TABLE `tasks` ADD `flow_control` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `flow_key` text GENERATED ALWAYS AS (json_extract(flow_control, '$.key')) VIRTUAL;--> statement-breakpoint
CREATE INDEX `tasks_claim_flow` ON `tasks` (`flow_key`,"priority" desc,`run_at`,`id`) WHERE status = 'pending' AND flow_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX `tasks_flow_running` ON `tasks` (`flow_key`) WHERE status = 'in_progress' AND flow_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX `tasks_flow_started` ON `tasks` (`flow_key`,`started_at`) WHERE flow_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX `tasks_claim_pending` ON `tasks` ("priority" desc,`run_at`,`id`) WHERE status = 'pending' AND flow_key IS NULL;
--> statement-breakpoint
-- A key's limits are its newest submitted task's (docs/flow-control.md): every insert of a
-- task with a key writes them, whatever inserts it (submit, batch, a schedule's occurrence, a
-- workflow run, a follow-up). An insert skipped for its idempotency key fires nothing. A task
-- without a key only evaluates the WHEN.
CREATE TRIGGER `flow_keys_on_insert` AFTER INSERT ON `tasks`
WHEN new.flow_control IS NOT NULL
BEGIN
	INSERT INTO `flow_keys` (`key`, `parallelism`, `rate`, `period_ms`)
	VALUES (new.flow_key, json_extract(new.flow_control, '$.parallelism'), json_extract(new.flow_control, '$.rate'),
		json_extract(new.flow_control, '$.period_seconds') * 1000)
	ON CONFLICT (`key`) DO UPDATE SET `parallelism` = excluded.`parallelism`, `rate` = excluded.`rate`, `period_ms` = excluded.`period_ms`;
END;--> statement-breakpoint
-- A key whose last task is deleted (retention, DELETE /tasks/:id) leaves no row behind: keys
-- are whatever clients send, so their rows must not outlive their tasks.
CREATE TRIGGER `flow_keys_on_delete` AFTER DELETE ON `tasks`
WHEN old.flow_control IS NOT NULL
BEGIN
	DELETE FROM `flow_keys` WHERE `key` = old.flow_key AND NOT EXISTS (SELECT 1 FROM `tasks` WHERE `flow_key` = old.flow_key);
END;
