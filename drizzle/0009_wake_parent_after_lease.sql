-- A child run's end wakes its waiting parent (0006), but not before the lease the parent's
-- last attempt still holds: a parent cancelled while its handler ran and retried at once waits
-- for that attempt to stop (docs/architecture.md, "Never two attempts of a task at once").
DROP TRIGGER IF EXISTS `workflow_wake_parent`;--> statement-breakpoint
CREATE TRIGGER `workflow_wake_parent` AFTER UPDATE OF `status` ON `tasks`
WHEN new.status IN ('completed', 'failed', 'cancelled') AND new.type GLOB 'workflow:*'
BEGIN
	UPDATE `tasks` SET `run_at` = min(`run_at`, max(new.updated_at, coalesce(`lease_expires_at`, 0)))
	WHERE `status` = 'pending' AND `id` IN (
		SELECT `run_id` FROM `workflow_steps` WHERE `child_run_id` = new.id AND `status` = 'waiting' AND `kind` = 'invoke'
	);
END;
