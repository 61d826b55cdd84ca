"""Plays a GP practice's system for Telederm's MESH tests (crates/telederm/tests/mesh.rs).

Usage: python mesh_gp_system.py URL MAILBOX PASSWORD SHARED_KEY REPLY_TO [--ack none|inf|bus|bus-error] [--keep]

Reads every message in the practice's MESH inbox with NHS Digital's own Python MESH client
(`mesh_client`, installed with the sandbox), parses each payload with an independent FHIR library
(`fhir.resources`, its STU3 models), takes the document's PDF out of its Binary and reads its text
with `pdftotext`. For each message it prints one JSON line: the MESH local id, workflow, the ITK
MessageHeader id and event, the patient's NHS number and name in the FHIR Patient, and the PDF's
text. Then it answers on the `_ACK` workflow as the GP system would: an ITK3 infrastructure
acknowledgement (`inf`), or that and a business acknowledgement (`bus`: filed; `bus-error`: not
filed), and acknowledges the message in MESH (unless --keep).
"""

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import uuid

from fhir.resources.STU3.bundle import Bundle
from mesh_client import MeshClient

EXT_HANDLING = "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-ITK-MessageHandling-2"


def ack_bundle(kind: str, response_to: str, ok: bool, sender_ods: str) -> bytes:
    definition = {
        "inf": "https://fhir.nhs.uk/STU3/MessageDefinition/ITK-InfAck-MessageDefinition-1",
        "bus": "https://fhir.nhs.uk/STU3/MessageDefinition/ITK-BusAck-MessageDefinition-1",
    }[kind]
    org_id = str(uuid.uuid4())
    header_id = str(uuid.uuid4())
    outcome = {
        "resourceType": "OperationOutcome",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"https://fhir.nhs.uk/STU3/StructureDefinition/ITK-{'Infack' if kind == 'inf' else 'Busack'}-OperationOutcome-1"]},
        "issue": [
            {"severity": "information", "code": "informational", "details": {"coding": [{"system": "https://fhir.nhs.uk/STU3/CodeSystem/ITK-Acknowledgement-1", "code": "10001" if kind == "inf" else "11000", "display": "Success"}]}}
            if ok
            else {"severity": "fatal", "code": "not-found", "details": {"coding": [{"system": "https://fhir.nhs.uk/STU3/CodeSystem/ITK-Acknowledgement-1", "code": "51002", "display": "Unrecognised Recipient Person"}]}}
        ],
    }
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "message",
        "entry": [
            {"fullUrl": f"urn:uuid:{header_id}", "resource": {
                "resourceType": "MessageHeader",
                "id": header_id,
                "extension": [{"url": EXT_HANDLING, "extension": [
                    {"url": "BusAckRequested", "valueBoolean": False},
                    {"url": "InfAckRequested", "valueBoolean": False},
                    {"url": "MessageDefinition", "valueReference": {"reference": definition}},
                ]}],
                "event": {"system": "https://fhir.nhs.uk/STU3/CodeSystem/ITK-MessageEvent-2", "code": "ITK008M", "display": "ITK Response"},
                "sender": {"reference": f"urn:uuid:{org_id}"},
                "timestamp": "2026-12-06T12:00:00+00:00",
                "source": {"endpoint": "GP system"},
                "response": {"identifier": response_to, "code": "ok" if ok else "fatal-error"},
                "focus": [{"reference": f"urn:uuid:{outcome['id']}"}],
            }},
            {"fullUrl": f"urn:uuid:{org_id}", "resource": {"resourceType": "Organization", "id": org_id,
                "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": sender_ods}]}},
            {"fullUrl": f"urn:uuid:{outcome['id']}", "resource": outcome},
        ],
    }
    # The acknowledgement is itself checked by the independent library before it is sent.
    Bundle.model_validate(bundle)
    return json.dumps(bundle).encode()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("mailbox")
    p.add_argument("password")
    p.add_argument("shared_key")
    p.add_argument("reply_to")
    p.add_argument("--ack", default="bus", choices=["none", "inf", "bus", "bus-error"])
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    client = MeshClient(a.url, a.mailbox, a.password, shared_key=a.shared_key.encode(), verify=False, max_retries=0)
    client.handshake()
    for message_id in client.list_messages():
        msg = client.retrieve_message(message_id)
        body = msg.read()
        local_id = msg.mex_header("localid") or msg.mex_header("local_id")
        workflow = msg.mex_header("workflowid") or msg.mex_header("workflow_id")
        bundle = Bundle.model_validate_json(body)
        resources = [e.resource for e in bundle.entry]
        header = resources[0]
        assert header.get_resource_type() == "MessageHeader", header.get_resource_type()
        focus = header.focus[0].reference
        docs = [e.resource for e in bundle.entry if e.fullUrl == focus]
        assert docs and docs[0].type == "document", "the MessageHeader's focus is the document bundle"
        doc = docs[0]
        patient = next(e.resource for e in doc.entry if e.resource.get_resource_type() == "Patient")
        binary = next(e.resource for e in doc.entry if e.resource.get_resource_type() == "Binary")
        assert binary.contentType == "application/pdf", binary.contentType
        pdf = binary.content if isinstance(binary.content, bytes) else base64.b64decode(binary.content)
        if not pdf.startswith(b"%PDF"):
            pdf = base64.b64decode(pdf)
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(pdf)
            f.flush()
            text = subprocess.run(["pdftotext", "-layout", f.name, "-"], check=True, capture_output=True).stdout.decode()
        handling = {}
        for ext in header.extension or []:
            if ext.url == EXT_HANDLING:
                for e in ext.extension:
                    handling[e.url] = e.valueBoolean if e.valueBoolean is not None else (
                        e.valueString or (e.valueCoding.code if e.valueCoding else None) or (e.valueReference.reference if e.valueReference else None))
        chunk_range = msg.mex_header("chunk-range") or "1:1"
        out = {
            "mesh_message_id": message_id,
            "chunks": int(str(chunk_range).split(":")[-1] or 1),
            "local_id": local_id,
            "workflow": workflow,
            "message_header_id": header.id,
            "event": header.event.code,
            "source": header.source.endpoint,
            "handling": handling,
            "nhs_number": patient.identifier[0].value,
            "family": patient.name[0].family,
            "given": patient.name[0].given,
            "pdf_text": text,
        }
        print(json.dumps(out), flush=True)
        sender_ods = a.mailbox
        if a.ack in ("inf", "bus", "bus-error"):
            client.send_message(a.reply_to, ack_bundle("inf", header.id, True, sender_ods), workflow_id=f"{workflow}_ACK", local_id=f"infack-{header.id}")
        if a.ack in ("bus", "bus-error"):
            client.send_message(a.reply_to, ack_bundle("bus", header.id, a.ack == "bus", sender_ods), workflow_id=f"{workflow}_ACK", local_id=f"busack-{header.id}")
        if not a.keep:
            msg.acknowledge()
    return 0


if __name__ == "__main__":
    sys.exit(main())
