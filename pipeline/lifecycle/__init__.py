"""After a list is sent: approval, LADOK files, archive PDF, archive packages."""
