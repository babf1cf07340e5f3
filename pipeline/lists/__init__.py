"""Result lists: creation, queries, content and hash, and the one state transition table."""
