CREATE TABLE `workflow_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`event` text NOT NULL,
	`key` text,
	`payload` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `workflow_events_match` ON `workflow_events` (`event`,`key`,`created_at`);--> statement-breakpoint
CREATE INDEX `workflow_events_age` ON `workflow_events` (`created_at`);--> statement-breakpoint
CREATE TABLE `workflow_steps` (
	`run_id` integer NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`output` text,
	`error` text,
	`started_at` integer NOT NULL,
	`completed_at` integer,
	`wake_at` integer,
	`event` text,
	`event_key` text,
	`event_id` integer,
	`child_run_id` integer,
	PRIMARY KEY(`run_id`, `name`)
);
--> statement-breakpoint
CREATE INDEX `workflow_steps_waiting_event` ON `workflow_steps` (`event`,`event_key`) WHERE status = 'waiting' AND kind = 'wait';--> statement-breakpoint
CREATE INDEX `workflow_steps_waiting_child` ON `workflow_steps` (`child_run_id`) WHERE status = 'waiting' AND kind = 'invoke';--> statement-breakpoint
-- A run's steps never outlive it: whatever deletes a run (retention, DELETE /tasks/:id, a bulk
-- delete) deletes its steps in the same statement. Only workflow runs pay for the check.
CREATE TRIGGER `workflow_steps_with_run` AFTER DELETE ON `tasks`
WHEN old.type GLOB 'workflow:*'
BEGIN
	DELETE FROM `workflow_steps` WHERE `run_id` = old.id;
END;--> statement-breakpoint
-- A child run that ends (completed, failed, cancelled: by its worker, the API, or an expired
-- last lease) wakes the parent waiting on it, in the same transaction: nothing to poll for.
CREATE TRIGGER `workflow_wake_parent` AFTER UPDATE OF `status` ON `tasks`
WHEN new.status IN ('completed', 'failed', 'cancelled') AND new.type GLOB 'workflow:*'
BEGIN
	UPDATE `tasks` SET `run_at` = min(`run_at`, new.updated_at)
	WHERE `status` = 'pending' AND `id` IN (
		SELECT `run_id` FROM `workflow_steps` WHERE `child_run_id` = new.id AND `status` = 'waiting' AND `kind` = 'invoke'
	);
END;
