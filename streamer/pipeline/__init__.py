"""Pipeline: state DB, state machines, orchestrator, runner, demo."""
