"""Intake: the inbox (claim, move), the watcher, the stage list and one handler per kind."""
