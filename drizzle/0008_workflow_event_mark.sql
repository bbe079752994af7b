-- Which events a run may take is decided by the database's order, not by clocks: when a run is
-- inserted (by any path: a start, a batch, a child run), the highest event id ever issued is
-- recorded beside it, in the same statement, as a step record with the empty name (no step
-- can have it). A wait takes only events with a higher id: events committed after the run.
-- Comparing the sender's clock with the creator's lost events when two hosts' clocks disagreed.
CREATE TRIGGER `workflow_event_mark` AFTER INSERT ON `tasks`
WHEN new.type GLOB 'workflow:*'
BEGIN
	INSERT INTO `workflow_steps` (`run_id`, `name`, `kind`, `status`, `attempts`, `started_at`, `completed_at`, `event_id`)
	VALUES (new.id, '', 'wait', 'completed', 0, new.created_at, new.created_at,
		coalesce((SELECT `seq` FROM `sqlite_sequence` WHERE `name` = 'workflow_events'), 0));
END;
