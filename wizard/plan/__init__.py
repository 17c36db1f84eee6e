"""Plan and apply: the planner, the atomic apply, rollback, staging, uninstall and client commands."""
