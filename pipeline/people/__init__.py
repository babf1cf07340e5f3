"""People: who a person is (the staff directory), their folders, what reaches them, what
they may do.

- :mod:`~pipeline.people.directory`: a person as the staff directory has them, and the
  student office;
- :mod:`~pipeline.people.folders`: ``inbox/<username>/`` and ``outbox/<username>/``;
- :mod:`~pipeline.people.delivery`: handing a person a file (their outbox folder and a mail);
- :mod:`~pipeline.people.roles`: who may do what, from the registry;
- :mod:`~pipeline.people.acting`: who is acting on a command line.
"""
