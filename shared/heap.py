"""The garbage collector and a long-running service: start-up's heap kept out of full collections."""

from __future__ import annotations

import gc

#: container objects allocated (net) before a young garbage collection; CPython's default is 700
YOUNG_COLLECTION_THRESHOLD = 10_000


def settle_heap() -> None:
    """Move everything start-up made (modules, classes, the app, the service's parts: ~124,000
    objects in the complaint service) out of the cyclic garbage collector's sight: ``gc.freeze``.

    A full (generation 2) collection traverses every tracked object. Under steady load the
    requests in flight at each young collection are promoted, so a full collection comes every
    15-20 s; over ~140,000 objects it took 80-100 ms of CPU in one go (complaint create and
    acknowledge under load): the event loop stood still that long and the requests that arrived
    meanwhile waited behind it (the p99 tail of issue 19). Frozen objects are never traversed, so
    a full collection covers what the running service made since, ~15,000 objects: 8-20 ms (same
    load, side by side). Start-up's own garbage is collected first so none of it is kept.

    Only for a process that serves one app for its life (``shared.runner.main``): frozen objects
    that become garbage later are never collected, and a process starting apps again and again
    (the integration tests) would keep each one, and pay a full collection per start."""
    gc.collect()
    gc.freeze()
    fewer_young_collections()


def fewer_young_collections() -> None:
    """A young collection every 10,000 net allocations instead of every 700 (issue 19).

    A command allocates a few thousand container objects (envelopes, models, the view, asyncpg
    records) and most are freed by reference counting on return; a young collection only
    traverses what is alive at that moment — the requests in flight, which it then promotes, so
    the older generations grow and collect more often too. At 700 a complaint acknowledge saw
    about one young collection in ten and 6-7 % of the service's CPU went to the collector
    (py-spy, under load); collections per 1,000 acknowledges fell from 78/7/1 (by generation) to
    2/0/0. What is kept between them is bounded: at most 10,000 objects of cyclic garbage, a few
    MB. The older generations keep their thresholds. Every service process, like the freeze."""
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
