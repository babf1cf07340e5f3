"""Result lists: ``create`` (T33, T34, corrections), ``students`` (sources, adding students),
``query`` (reading lists and their registry records), ``content`` (rows, identity, hash) and
``state`` (the one transition table and the only writer of a list's state)."""
