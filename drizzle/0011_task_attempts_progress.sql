CREATE TABLE `task_attempts` (
	`task_id` integer NOT NULL,
	`n` integer NOT NULL,
	`attempt` integer NOT NULL,
	`worker` text,
	`started_at` integer,
	`ended_at` integer NOT NULL,
	`outcome` text NOT NULL,
	`error` text,
	PRIMARY KEY(`task_id`, `n`)
);
--> statement-breakpoint
ALTER TABLE `tasks` ADD `progress` text;--> statement-breakpoint
-- A task's attempt records never outlive it: whatever deletes the task (retention, DELETE
-- /tasks/:id, a bulk delete) deletes them in the same statement. A completed task at version 3
-- or less was claimed once and completed (insert, claim, completion): it has no records, so the
-- common row retention deletes skips the lookup.
CREATE TRIGGER `task_attempts_with_task` AFTER DELETE ON `tasks`
WHEN old.status <> 'completed' OR old.version > 3
BEGIN
	DELETE FROM `task_attempts` WHERE `task_id` = old.id;
END;--> statement-breakpoint
-- An attempt whose worker died is found when the claim takes its task again (the claim's
-- expired-lease arm: the only write that sets started_at on a row that stays in_progress). It
-- is recorded then, in the same statement, from the row as that attempt left it; the claim
-- itself is unchanged, and a claim of a pending task only evaluates the WHEN.
CREATE TRIGGER `task_attempts_lease_expired` AFTER UPDATE OF `started_at` ON `tasks`
WHEN old.status = 'in_progress' AND new.status = 'in_progress'
BEGIN
	INSERT INTO `task_attempts` (`task_id`, `n`, `attempt`, `worker`, `started_at`, `ended_at`, `outcome`, `error`)
	VALUES (old.id, coalesce((SELECT max(`n`) FROM `task_attempts` WHERE `task_id` = old.id), 0) + 1, old.attempts, old.locked_by,
		old.started_at, coalesce(old.lease_expires_at, new.started_at), 'lease_expired', 'lease expired (worker died or stalled)');
END;
