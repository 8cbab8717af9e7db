"""What an operator runs here: the CLI, the demos, the temporary local Prefect server."""
