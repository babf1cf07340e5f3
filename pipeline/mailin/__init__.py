"""Drop by mail: an IMAP mailbox read as one more inbox, receipts by reply.

A mail from an address the staff directory holds is that person's drop: each attachment is
claimed into the inbox as if dropped in ``inbox/<username>/`` and goes through the same
stages (:mod:`pipeline.intake.stages`); the receipt is a reply in the mail's thread. A reply
to the review mail with the code on its first line approves as the code typed into the review
workbook. Mail from anyone else is never answered: it is moved to ``resultat/refused`` and
named in the administrators' daily digest.

- :mod:`~pipeline.mailin.threads`: the mail a claimed file came from, and the reply to it;
- :mod:`~pipeline.mailin.authresults`: the receiving server's ``Authentication-Results``;
- :mod:`~pipeline.mailin.letter`: one mail read into what the intake needs (untrusted text);
- :mod:`~pipeline.mailin.mailbox`: the IMAP side (imap-tools);
- :mod:`~pipeline.mailin.answers`: the short answers, the "in your name" mail and the digest;
- :mod:`~pipeline.mailin.by_mail`: the approval code in a reply to the review mail;
- :mod:`~pipeline.mailin.take`: one mail, exactly once; :mod:`~pipeline.mailin.poll`: passes.
"""
