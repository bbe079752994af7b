CREATE TABLE `task_id_mark` (
	`one` integer PRIMARY KEY NOT NULL,
	`next` integer NOT NULL
);
