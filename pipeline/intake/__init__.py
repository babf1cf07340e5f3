"""Intake: every file dropped in ``inbox/``, taken through a literal list of stages.

- ``claim``: which files are taken, when they are stable, claiming one, where it is kept;
- ``inbox``, ``watcher``: passes over the inbox (and the daemon), moving a file by its outcome;
- ``stages``: ``STAGES = (preflight, duplicate, identify, result_workbook, review_workbook,
  lms_export, unknown)``; ``dropped``: what the stages learn about a file, its record;
  ``outcomes``: one small typed result per outcome;
- one module per kind of file: ``result_workbook``, ``review_workbook``, ``lms_export``;
- a result workbook's checks (``handlers``, ``checked``) and applying them (``apply``);
  the ending both kinds of workbook share (``workbook_receipt``), ``receipts``, ``report``;
- the schemas' validation: ``checks`` (pandera, the validator), ``column_checks``,
  ``cells``, ``cell_values`` and the fast path around pandera for valid frames (``fastpath``).
"""
