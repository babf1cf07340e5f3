"""After a list is sent: ``approval`` (with ``challenge``, the code, and ``review``, the
examiner's files), ``after_approval`` (LADOK files via ``ladok``, the archive list via
``archive_pdf``/``pdf_layout``/``pdf_data``), ``archive`` (packages) and ``verify``."""
