CREATE TABLE `dashboard_session_generation` (
	`one` integer PRIMARY KEY NOT NULL,
	`generation` integer NOT NULL
);
