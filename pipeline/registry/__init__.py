"""Registry data: import of students, courses, staff and their relations; personal settings."""
