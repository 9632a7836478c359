"""The visit decider: from walking in to leaving. Pure, no I/O; time arrives inside commands.

arrived → greeted → need confirmed → guided → documents checked (complete, or incomplete: the
customer may step out to fetch what is missing and return, same visit) → queued (ticket) →
called (up to three times, else a no-show) → served → left. Leaving while queued or called is an
abandonment. A complaint need, or a complaint raised at any time during the visit, emits
``ComplaintRaisedDuringVisit`` for the complaint service.

Catalogue look-ups (line of a need, required materials) and ticket numbers are resolved by the
application layer and arrive inside the commands, so this module stays pure.

Where things are: :mod:`.state` (statuses, the visit), :mod:`.commands`, :mod:`.steps` (one
function per command) and :mod:`.evolve` (what each event changes). ``decide``
(:mod:`services.reception.domain`, the decider's public face) checks what every command needs (a
started, not ended visit) and hands the command to its step.
"""
