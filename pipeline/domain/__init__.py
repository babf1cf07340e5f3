"""Pure domain rules: personnummer, grading scales, terms, deadlines (no I/O)."""
