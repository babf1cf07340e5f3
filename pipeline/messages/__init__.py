"""Mail and SMS: the transactional outbox, SMS webhook, reminders, the overview."""
