"""Who a private text belongs to (``shared.texts``), and the SQL that reads a stream's owners' keys.

Kept apart from ``shared.texts`` (which needs the service runner) so that the command handler can
read the keys with a stream's load without importing the runner (``shared.command_values``).
"""

from __future__ import annotations

#: the owner of a customer's texts: ``customer:<customer_ref>``
CUSTOMER_OWNER = "customer:"
#: the owner of texts about no known customer: ``branch:<branch_id>``
BRANCH_OWNER = "branch:"

STREAM_KEYS = f"""
SELECT owner, wrapped_key FROM text_keys
WHERE wrapped_key IS NOT NULL AND owner IN (
    SELECT '{CUSTOMER_OWNER}' || (data->>'customer_ref') FROM events
    WHERE stream_id = $1 AND data ? 'customer_ref'
    UNION SELECT '{BRANCH_OWNER}' || branch_id FROM events WHERE stream_id = $1 AND stream_version = 1)
"""
"""The wrapped data keys a stream's texts may be stored under (``$1``: the stream id): of every
customer its events name (``customer_ref``) and of its branch. Read with the stream
(``CommandHandler(text_keys=True)``), so a command carrying a free text looks no key up: the
owner it saves under (``state.customer_ref``, else the branch) is nearly always among them; when
it is not (a customer's first text in this service, or a state whose customer no event names),
:meth:`PrivateTexts.save` gets or creates the key with one statement of its own."""
