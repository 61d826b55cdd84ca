"""Runs NHS Digital's MESH sandbox (`mesh-sandbox` from PyPI) on loopback for Telederm's tests.

Usage: python run_mesh_sandbox.py PORT DATA_DIR

DATA_DIR holds `mailboxes.jsonl` and `workflows.jsonl` (the mailboxes, their ODS codes and
passwords, and who may send and receive each workflow) and, under `mailboxes/`, the file store of
messages. The sandbox reads its mailbox and workflow files from its own package directory; this
launcher points it at DATA_DIR instead, so each test writes its own. Everything else (AUTH_MODE,
SHARED_KEY, STORE_MODE=file) comes from the environment as the sandbox documents it.
"""

import os
import sys

import uvicorn

port = int(sys.argv[1])
data_dir = os.path.abspath(sys.argv[2])
os.environ.setdefault("STORE_MODE", "file")
os.environ.setdefault("AUTH_MODE", "full")
os.environ["MAILBOXES_DATA_DIR"] = os.path.join(data_dir, "mailboxes")
os.makedirs(os.environ["MAILBOXES_DATA_DIR"], exist_ok=True)

from mesh_sandbox.store import canned_store  # noqa: E402

# The canned store looks for mailboxes.jsonl and workflows.jsonl beside its own module.
canned_store.CannedStore._canned_data_dir = property(lambda self: data_dir, lambda self, value: None)

uvicorn.run("mesh_sandbox.api:app", host="127.0.0.1", port=port, log_level="warning")
