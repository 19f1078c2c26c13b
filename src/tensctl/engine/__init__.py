"""The engine: a session's state machine (:mod:`.session`, :mod:`.states`), the checks
before current flows (:mod:`.checks` → an immutable :class:`~.plan.Plan`), the run
controller (:mod:`.control`), the runner that ticks it (:mod:`.runner`), clocks, the
timeline and events. Imports point one way: runner → session → checks, control → plan,
states, timeline, events, clock.

Threads and locks (take them in this order, never the other way):

- ``Session._cause_lock``: held only to claim a fault's cause, never while calling out.
- the device first: :meth:`Session.emergency_stop` and :meth:`Session.fault` send the stop
  to the driver *before* they take ``Session.lock``, so an emergency stop never waits for a
  tick, an operator call or another fault; the driver's own emergency stop does not wait
  behind other traffic either (``drivers/link.py``).
- ``Session.lock`` (re-entrant): every tick (runner thread), every operator call (the
  caller's thread: CLI keys, JSON-lines, the API), every state transition and the run
  controller's work under them. The controller never takes a lock of its own.
- the host watchdog thread (:class:`~.runner.HostWatchdog`) reads the due time without a
  lock and, when the ticks have stopped, calls :meth:`Session.fault` (device first).
- :class:`~.events.EventHub` takes its lock only to copy its listener list; listeners run
  on the emitting thread, under ``Session.lock``, and must not wait for another thread
  that needs it.
"""
