"""Events of the headquarters context (``hq.events.v1``): none yet."""
