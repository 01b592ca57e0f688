"""A declarative runbook: ordered stages, entry actions, deadlines with reminders and escalation.

Four of the seed runbooks have the same shape: a ticket moves through named stages; entering a
stage calls for actions (tell someone, create a task, tick a field); some stages must not last
too long (a follow-up after 5 business days, a check every 12 hours that escalates after 48, a
60-day target with warnings). This module is that shape, built once:

* :class:`Stage` — entered when its condition holds (a status, a field value, ticked checklist
  items, a label, a comment, a child task's state…). Stages are ordered and the machine only
  moves forward: on every event it finds the *furthest* stage whose condition holds and enters
  every stage up to it, in order, running each one's entry actions. Why the furthest: people
  skip steps in a tracker (a status moved two columns at once) and the runbook must still
  catch up; why never back: entry actions already happened and must not happen twice.
* :class:`Deadline` — armed when its start stage is entered, disarmed when a stop stage is
  entered or its ``until`` condition holds. It rings at computed moments (*alarms*): warnings
  before the due moment, the due moment itself, reminders every N after it (at most M, and
  only before the escalation), and one escalation. Delays are business time through the rule's
  :class:`~bot.calendar.BusinessCalendar` (``5 business days``) or wall-clock time (``48h``).
* One durable timer per deadline (``StartTimer`` re-armed for the next alarm each time it
  fires), one record per ticket (``SetState``: the stage, the history, which deadlines were
  met, which child tickets belong to it). Effects are desired state with unique steps
  (``enter:<stage>:<action>``, ``<deadline>:remind2:<action>``), so a redelivered event or a
  timer fired twice writes nothing new.

Rules stay pure: :meth:`Runbook.evaluate` gets the facts (ticket, related tickets, the event,
the time) and the rule's record, and returns an :class:`~bot.engine.Evaluation`. Conditions
are small objects that explain themselves (observed vs expected) and list the names they need
on the site, so ``requirements(config)`` of a runbook rule mostly writes itself.

Child tasks: a tracker gives the key of a created ticket to the executor, not to the rule. So a
child task carries its parent's key in a field (:class:`Children`), and the rule adopts the child
(records its key in the parent's record and links the two) on the first event it sees on it —
in Jira, the ``issue_created`` webhook of the bot's own creation. Rules with children therefore
set ``handles_own_events = True``; the stage record is what keeps them from acting twice.

Jira or Zendesk: a runbook rule runs unchanged on either tracker. Its block says which one its
project lives on (``tracker``, :class:`RunbookConfig`); the rule reads the normalized ticket (on
Zendesk the project is the group, the kind of ticket its form, see :func:`ticket_kind`), and writes
through effects the tracker adapter renders (a transition is a status update on Zendesk, an
internal comment a ``public: false`` note, a watcher a follower). :class:`Declarations` states a
rule's names as data and derives its ``requirements``/``writes``/``triggers`` for that tracker.
"""
