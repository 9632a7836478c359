"""``branchcare dlq list|show|redrive``: the dead letters of every topic, without kcat or SQL.

- ``list`` — dead letters (the newest 100, ``--limit``) with their id (``TOPIC:PARTITION:OFFSET``),
  time, source topic, consumer, event type, stream, reason and whether they were redriven; filter
  with ``--topic``
  (a context such as ``complaint``, a source topic or a DLQ topic), ``--reason`` (substring,
  case-insensitive), ``--since`` / ``--until`` (ISO time or ``2h``, ``3d`` ago).
- ``show ID`` — one dead letter: its headers and its envelope, data masked (``shared.cli._mask``).
- ``redrive ID…`` or ``redrive --all`` with the filters of ``list`` — each dead letter back to
  its source topic, once (``shared.cli._deadletters``). ``--dry-run`` lists what would go.
  ``--all`` skips records that are no envelope at all (they can never apply); naming one by id
  sends it anyway.

Exit codes: 0 done; 1 a failure (unreachable broker or database, unknown id, a redrive failed);
``redrive`` of dead letters that were all redriven before says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from shared import catalogue
from shared.cli._common import (
    CliError,
    Progress,
    add_database_option,
    add_kafka_option,
    add_output_option,
    bootstrap_servers,
    database_url,
    describe_dsn,
    fail,
    parse_time,
    print_json,
    table,
)
from shared.cli._deadletters import (
    AlreadyRedriven,
    DeadLetter,
    dlq_topics,
    parse_id,
    read_dead_letters,
    redrive,
    redriven,
)
from shared.cli._mask import masked_envelope
from shared.pii import scrub_text


def register(subcommands: Any) -> None:
    group = subcommands.add_parser("dlq", help="list, inspect and redrive dead letters")
    commands = group.add_subparsers(dest="command", metavar="SUBCOMMAND")

    listing = commands.add_parser("list", help="dead letters by topic, reason and time")
    listing.add_argument(
        "--limit", type=int, default=100, metavar="N", help="only the newest N (default 100; 0: all)"
    )
    _filters(listing)
    _options(listing)
    listing.set_defaults(handler=list_command)

    show = commands.add_parser("show", help="one dead letter: headers and masked envelope")
    show.add_argument("id", metavar="ID", help="TOPIC:PARTITION:OFFSET, as `dlq list` prints it")
    _options(show)
    show.set_defaults(handler=show_command)

    again = commands.add_parser("redrive", help="send dead letters back to their source topic, once")
    again.add_argument("ids", nargs="*", metavar="ID", help="TOPIC:PARTITION:OFFSET (or use --all)")
    again.add_argument("--all", action="store_true", help="every dead letter matching the filters")
    again.add_argument("--dry-run", action="store_true", help="only list what would be redriven")
    _filters(again)
    _options(again)
    again.set_defaults(handler=redrive_command)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", action="append", default=[], help="context, source topic or DLQ topic")
    parser.add_argument("--reason", help="reason contains this text (case-insensitive)")
    parser.add_argument("--since", type=parse_time, help="dead-lettered at or after (ISO time or 2h/3d ago)")
    parser.add_argument("--until", type=parse_time, help="dead-lettered before (ISO time or 2h/3d ago)")


def _options(parser: argparse.ArgumentParser) -> None:
    add_kafka_option(parser)
    add_database_option(parser)
    add_output_option(parser)


def _matches(letter: DeadLetter, args: argparse.Namespace) -> bool:
    if args.reason and args.reason.lower() not in letter.reason.lower():
        return False
    if args.since and letter.timestamp < args.since:
        return False
    return not (args.until and letter.timestamp >= args.until)


async def _load(
    args: argparse.Namespace, topics: list[str], *, strict: bool
) -> tuple[list[DeadLetter], dict[str, Any]]:
    progress = Progress("reading dead letters", 0, enabled=None if not args.json else False)

    def advance(done: int, total: int) -> None:
        progress.total = total
        progress.advance(done - progress.done)

    try:
        letters = await read_dead_letters(bootstrap_servers(args), topics, strict=strict, progress=advance)
    finally:
        if progress.done:
            progress.close()
    done: dict[str, Any] = {}
    url = database_url(args)
    conn = await asyncpg.connect(url, timeout=10)
    try:
        done = await redriven(conn, letters)
    finally:
        await conn.close()
    return letters, done


def _summary(letter: DeadLetter, done: dict[str, Any]) -> dict[str, Any]:
    env = letter.envelope()
    return {
        "id": letter.id,
        "time": letter.timestamp,
        "source_topic": letter.source_topic,
        "consumer": letter.consumer,
        "type": letter.event_type(),
        "stream": env.stream_id if env else None,
        "reason": scrub_text(letter.reason),
        "redriven_at": done.get(letter.id),
    }


async def list_command(args: argparse.Namespace) -> int:
    try:
        letters, done = await _load(args, dlq_topics(args.topic), strict=bool(args.topic))
    except (CliError, LookupError, OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return fail(str(exc))
    except Exception as exc:  # the broker's errors come in many classes
        return fail(f"cannot read the dead-letter topics: {exc!r}")
    matching = sorted((x for x in letters if _matches(x, args)), key=lambda x: (x.timestamp, x.id))
    shown = matching[-args.limit :] if args.limit > 0 else matching
    rows = [_summary(x, done) for x in shown]
    if args.json:
        print_json(rows)
        return 0
    columns = ["id", "time", "type", "stream", "consumer", "redriven_at", "reason"]
    print(table(rows, columns, empty="no dead letters"))
    if matching:
        waiting = sum(1 for x in matching if x.id not in done)
        more = f" (the newest {len(rows)} shown; --limit 0 for all)" if len(rows) < len(matching) else ""
        print(f"\n{len(matching)} dead letter(s), {waiting} not redriven{more}")
    return 0


async def show_command(args: argparse.Namespace) -> int:
    try:
        topic, partition, offset = parse_id(args.id)
        letters, done = await _load(args, [topic], strict=True)
    except (ValueError, CliError, LookupError, OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return fail(str(exc))
    letter = next((x for x in letters if (x.partition, x.offset) == (partition, offset)), None)
    if letter is None:
        return fail(f"no dead letter {args.id}")
    env = letter.envelope()
    if env is not None:
        catalogue.load_contracts()
    doc = {
        **_summary(letter, done),
        # the reason may quote an exception's text; the other headers are names and numbers
        "headers": {k: scrub_text(v) if k == "x-dlq-reason" else v for k, v in letter.headers.items()},
        "key": (letter.key or b"").decode("utf-8", "replace"),
        "envelope": masked_envelope(env) if env is not None else None,
        "bytes": len(letter.value),
    }
    if args.json:
        print_json(doc)
        return 0
    for name in ("id", "time", "source_topic", "consumer", "type", "stream", "key", "bytes", "redriven_at"):
        print(f"{name:>13}: {doc[name] if doc[name] is not None else '-'}")
    print(f"{'reason':>13}: {doc['reason']}")
    print("\nheaders:")
    for k, v in doc["headers"].items():
        print(f"  {k}: {v}")
    print("\nenvelope (data masked):" if env is not None else "\nnot a valid envelope (value not shown)")
    if env is not None:
        print(json.dumps(doc["envelope"], indent=2, ensure_ascii=False))
    return 0


async def redrive_command(args: argparse.Namespace) -> int:
    if bool(args.ids) == bool(args.all):
        return fail("name dead letters by ID, or use --all with filters (not both)", 2)
    try:
        wanted = [parse_id(i) for i in args.ids]
        topics = sorted({t for t, _, _ in wanted}) if wanted else dlq_topics(args.topic)
        letters, done = await _load(args, topics, strict=bool(wanted or args.topic))
        servers, url = bootstrap_servers(args), database_url(args)
    except (ValueError, CliError, LookupError, OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return fail(str(exc))
    if wanted:
        by_id = {(x.topic, x.partition, x.offset): x for x in letters}
        missing = [f"{t}:{p}:{o}" for t, p, o in wanted if (t, p, o) not in by_id]
        if missing:
            return fail(f"no such dead letter: {', '.join(missing)}")
        chosen = [by_id[w] for w in wanted]
    else:
        chosen = [x for x in letters if _matches(x, args)]
    results = [{"id": x.id, "outcome": "already redriven", "at": done[x.id]} for x in chosen if x.id in done]
    if not wanted:  # bytes that are no envelope can never apply: only by id, deliberately
        results += [
            {"id": x.id, "outcome": "skipped: not an envelope (name its id to send it anyway)", "at": None}
            for x in chosen
            if x.id not in done and x.envelope() is None
        ]
        chosen = [x for x in chosen if x.envelope() is not None]
    fresh = [x for x in chosen if x.id not in done]
    if args.dry_run:
        results += [{"id": x.id, "outcome": f"would go to {x.source_topic}", "at": None} for x in fresh]
        return _report(args, results, failed=False)
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=False)
    conn: asyncpg.Connection | None = None
    failed = False
    progress = Progress("redriving", len(fresh), enabled=None if not args.json else False)
    try:
        await producer.start()
        conn = await asyncpg.connect(url, timeout=10)
        for letter in fresh:
            try:
                await redrive(conn, producer, letter)
                results.append({"id": letter.id, "outcome": f"sent to {letter.source_topic}", "at": None})
            except AlreadyRedriven:
                results.append({"id": letter.id, "outcome": "already redriven", "at": None})
            except LookupError as exc:
                failed = True
                results.append({"id": letter.id, "outcome": f"failed: {exc}", "at": None})
            progress.advance()
    except Exception as exc:
        progress.close()
        return fail(f"redrive stopped ({describe_dsn(url)}, {servers}): {exc!r}; what was sent is recorded")
    finally:
        if conn is not None:
            await conn.close()
        await producer.stop()
    progress.close()
    return _report(args, results, failed=failed)


def _report(args: argparse.Namespace, results: list[dict[str, Any]], *, failed: bool) -> int:
    if args.json:
        print_json(results)
    else:
        print(table(results, ["id", "outcome", "at"], empty="nothing to redrive"))
    return 1 if failed else 0
