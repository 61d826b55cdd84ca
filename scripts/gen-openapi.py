#!/usr/bin/env python3
"""Writes crates/web/src/api/openapi.json, the JSON API's contract. Edit here, run, commit both."""
import json, pathlib

def ref(name): return {"$ref": f"#/components/schemas/{name}"}
def err(desc): return {"description": desc, "content": {"application/json": {"schema": ref("Error")}}}
def ok(desc, schema=None):
    r = {"description": desc}
    if schema: r["content"] = {"application/json": {"schema": schema}}
    return r
def body(schema): return {"required": True, "content": {"application/json": {"schema": schema}}}
ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
PHOTO_ID = {"name": "photo_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
E401, E403, E404, E409, E422 = err("Not signed in"), err("Your role may not do this"), err("No such record you can see"), err("Not allowed in the referral's current state"), err("The body has a wrong or missing value")
E400 = err("Malformed request")
E503 = err("database_unavailable: the database cannot be reached just now and nothing was changed; send again after Retry-After seconds")
E429 = {"description": "too_many_attempts: too many failed sign-ins for this account or address; wait `Retry-After` seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}, "content": {"application/json": {"schema": ref("Error")}}}
enum = lambda *v: {"type": "string", "enum": list(v)}
STATUS = enum("draft", "submitted", "in_review", "awaiting_information", "outcome_issued", "closed", "rejected", "withdrawn")
ROUTE = enum("advice_and_guidance", "ras")
PRIORITY = enum("routine", "urgent", "two_week_wait")
OUTCOME = enum("advice_management_plan", "no_further_action", "face_to_face_routine", "face_to_face_urgent", "biopsy", "onward_referral", "convert_to_referral", "redirect_two_week_wait", "rejected")
REASON = enum("poor_image_quality", "ineligible", "should_be_two_week_wait", "insufficient_information", "other")
S = lambda **props: {"type": "object", "properties": props}

schemas = {
    "Error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "description": "Stable machine-readable code"},
        "message": {"type": "string", "description": "What went wrong and what to do next"},
        "details": {"description": "Structured detail, e.g. eligibility reasons or fields to fix"}}},
    "Patient": {"type": "object", "required": ["nhs_number", "given_name", "family_name", "date_of_birth", "sex", "postcode"], "additionalProperties": False, "properties": {
        "nhs_number": {"type": "string", "description": "10 digits, Modulus 11; spaces and hyphens allowed", "example": "943 476 5919"},
        "given_name": {"type": "string"}, "family_name": {"type": "string"},
        "date_of_birth": {"type": "string", "format": "date"}, "sex": enum("female", "male", "other", "unknown"),
        "postcode": {"type": "string"}, "contact": {"type": "object", "additionalProperties": False, "properties": {"email": {"type": "string"}, "phone": {"type": "string"}}}}},
    "ClinicalHistory": {"type": "object", "additionalProperties": False, "properties": {
        k: {"type": "string"} for k in ["presenting_complaint", "duration", "treatments_tried", "relevant_history", "medication", "allergies"]} | {"body_sites": {"type": "array", "items": {"type": "string"}}}},
    "Consent": {"type": "object", "additionalProperties": False, "required": ["given_by", "method", "direct_care", "teaching", "research"], "properties": {
        "given_by": enum("patient", "parent_or_guardian", "best_interests_decision"), "method": enum("verbal", "written", "electronic"),
        "direct_care": {"type": "boolean"}, "teaching": {"type": "boolean"}, "research": {"type": "boolean"}}},
    "EligibilityAnswers": {"type": "object", "description": "Exactly the documented fields; see docs/services.md"},
    "Referral": {"type": "object", "required": ["id", "service_id", "route", "priority", "status", "patient", "version"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "service_id": {"type": "string"}, "route": ROUTE, "priority": PRIORITY, "status": STATUS,
        "practice_id": {"type": "string"}, "referrer_id": {"type": "string"}, "assignee_id": {"type": ["string", "null"]},
        "patient": ref("Patient"), "history": ref("ClinicalHistory"), "consent": {"oneOf": [ref("Consent"), {"type": "null"}]},
        "eligibility_answers": {}, "eligibility": {}, "conversion_authorised": {"type": "boolean"}, "outcome": {},
        "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
        "submitted_at": {"type": ["string", "null"]}, "due_date": {"type": ["string", "null"]},
        "due_date_provisional": {"type": "boolean", "description": "The due date is past the official bank-holiday data, so it was computed from the statutory England and Wales rules; a bank holiday proclaimed later could move it. Pages show it as provisional"},
        "version": {"type": "integer"}}},
    "ReferralList": S(referrals={"type": "array", "items": {"type": "object"}}),
    "Photo": {"type": "object", "properties": {"id": {"type": "string"}, "kind": enum("locator", "close_up", "dermoscopic"), "verdict": enum("accept", "warn", "reject"), "report": {"type": "object"}}},
    "Job": {"type": "object", "properties": {"id": {"type": "string", "format": "uuid"}, "kind": {"type": "string"}, "payload": {"type": "object"},
        "unique_key": {"type": ["string", "null"]}, "state": enum("queued", "running", "done", "dead"), "attempts": {"type": "integer"}, "max_attempts": {"type": "integer"},
        "run_at": {"type": "string", "format": "date-time"}, "locked_by": {"type": ["string", "null"]}, "locked_until": {"type": ["string", "null"]},
        "last_error": {"type": ["string", "null"]}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": ["string", "null"]}}},
    "User": {"type": "object", "properties": {"id": {"type": "string"}, "email": {"type": "string"}, "display_name": {"type": "string"}, "role": enum("referrer", "consultant", "service_admin", "system_admin"), "organisation_id": {"type": "string"}, "services": {"type": "array", "items": {"type": "string"}}}},
}
create = {"type": "object", "additionalProperties": False, "required": ["service_id", "route", "patient"], "properties": {
    "service_id": {"type": "string"}, "route": ROUTE, "priority": PRIORITY, "patient": ref("Patient"), "history": ref("ClinicalHistory"),
    "consent": ref("Consent"), "eligibility_answers": ref("EligibilityAnswers"), "conversion_authorised": {"type": "boolean"}}}
update = {"type": "object", "additionalProperties": False, "properties": dict(create["properties"], version={"type": "integer"})}
message = {"type": "object", "additionalProperties": False, "required": ["message"], "properties": {"message": {"type": "string", "maxLength": 8000}}}
outcome = {"type": "object", "additionalProperties": False, "required": ["code"], "properties": {
    "code": OUTCOME, "rejection_reason": REASON, "diagnosis": {"type": "string"}, "management_plan": {"type": "string"},
    "follow_up": {"type": "string"}, "priority": PRIORITY, "onward_service": {"type": "string"}}}
list_params = [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": d} for n, d in [
    ("status", "Comma-separated statuses"), ("service", "Comma-separated service ids"), ("route", "advice_and_guidance or ras"),
    ("priority", "routine, urgent or two_week_wait"), ("nhs_number", "Exact NHS number"), ("q", "Part of the patient's name")]] + [
    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}}]
R = lambda desc: ok(desc, ref("Referral"))
def action(summary, req=None, extra=None):
    op = {"summary": summary, "tags": ["referrals"], "parameters": [ID], "responses": {"200": R("The referral after the change"), "401": E401, "403": E403, "404": E404, "409": E409, **(extra or {})}}
    if req: op["requestBody"] = body(req); op["responses"]["422"] = E422
    return {"post": op}

paths = {
    "/healthz": {"get": {"summary": "Liveness", "tags": ["operations"], "servers": [{"url": "/"}], "responses": {"200": {"description": "Alive"}}}},
    "/readyz": {"get": {"summary": "Readiness: the database and the blob store answer", "tags": ["operations"], "servers": [{"url": "/"}], "security": [],
        "responses": {"200": ok("Ready", S(status=enum("ready"), checks=S(database=enum("ok"), blob_store=enum("ok"), calendar=enum("ok", "ending_soon", "past_official_data")),
                                            calendar=dict(S(status=enum("ok", "ending_soon", "past_official_data"), source={"type": "string"}, official_data_ends={"type": "string", "format": "date"},
                                                            days_left={"type": "integer"}, warning={"type": ["string", "null"]}),
                                                          description="The bank-holiday calendar: warns from 90 days before its official data ends (load a newer one with `telederm calendar update`), never makes the node unready"))),
                      "503": err("Not ready (code not_ready); details name each part: ok or unreachable")}}},
    "/metrics": {"get": {"summary": "Prometheus metrics (text format); serve on an internal address only", "tags": ["operations"], "servers": [{"url": "/"}], "security": [],
        "responses": {"200": {"description": "Prometheus text exposition format", "content": {"text/plain": {}}}}}},
    "/openapi.json": {"get": {"summary": "This document", "tags": ["meta"], "security": [], "responses": {"200": ok("OpenAPI 3 document", {"type": "object"})}}},
    "/auth/sign-in": {"post": {"summary": "Sign in; sets the session cookie", "tags": ["session"], "security": [],
        "requestBody": body({"type": "object", "additionalProperties": False, "required": ["email", "password"], "properties": {"email": {"type": "string"}, "password": {"type": "string"}}}),
        "responses": {"200": ok("Signed in", ref("User")), "400": E400, "401": err("invalid_credentials: wrong email or password (the same answer whether or not the account exists)"), "422": E422,
            "429": E429}}},
    "/auth/change-password": {"post": {"summary": "Change your password; ends all your sessions and starts a fresh one for this client", "tags": ["session"],
        "requestBody": body({"type": "object", "additionalProperties": False, "required": ["current_password", "new_password"], "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string", "minLength": 12, "maxLength": 256}}}),
        "responses": {"204": {"description": "Changed; the Set-Cookie carries the new session"}, "400": E400, "401": err("Not signed in, or invalid_credentials: the current password is wrong"),
            "422": err("The new password breaks a password rule: password_too_short, password_too_long, password_too_common or password_personal"), "429": E429}}},
    "/auth/sign-out": {"post": {"summary": "Sign out; ends the session", "tags": ["session"], "responses": {"204": {"description": "Signed out; the browser is also asked to clear this site's storage (drafts the pages keep)",
        "headers": {"Clear-Site-Data": {"schema": enum('"storage"'), "description": "Always `\"storage\"`"}}}}}},
    "/me": {"get": {"summary": "The signed-in user", "tags": ["session"], "responses": {"200": ok("User", ref("User")), "401": E401}}},
    "/services": {"get": {"summary": "Service directory (policies)", "tags": ["services"], "responses": {"200": ok("Services", S(services={"type": "array", "items": {"type": "object"}})), "401": E401}}},
    "/services/{id}": {"get": {"summary": "One service policy", "tags": ["services"], "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}], "responses": {"200": ok("Policy", {"type": "object"}), "401": E401, "404": E404}}},
    "/eligibility/check": {"post": {"summary": "Evaluate eligibility answers against a service (nothing saved)", "tags": ["services"],
        "requestBody": body({"type": "object", "additionalProperties": False, "required": ["service", "answers"], "properties": {"service": {"type": "string"}, "answers": ref("EligibilityAnswers")}}),
        "responses": {"200": ok("Decision", S(service={"type": "string"}, decision=enum("eligible", "excluded", "redirect_2ww"), reasons={"type": "array", "items": {"type": "object"}}, warnings={"type": "array", "items": {"type": "object"}})), "400": E400, "401": E401, "422": E422}}},
    "/referrals": {
        "get": {"summary": "Referrals the caller may see", "tags": ["referrals"], "parameters": list_params, "responses": {"200": ok("List", ref("ReferralList")), "400": E400, "401": E401}},
        "post": {"summary": "Start a draft referral (referrers)", "tags": ["referrals"], "requestBody": body(create), "responses": {"201": R("The draft"), "400": E400, "401": E401, "403": E403, "422": E422}}},
    "/referrals/{id}": {
        "get": {"summary": "A referral with its photos, messages, history and permitted actions", "tags": ["referrals"], "parameters": [ID], "responses": {"200": ok("Detail", {"type": "object"}), "401": E401, "404": E404}},
        "patch": {"summary": "Update a draft (absent fields unchanged)", "tags": ["referrals"], "parameters": [ID], "requestBody": body(update), "responses": {"200": R("The draft"), "400": E400, "401": E401, "403": E403, "404": E404, "409": E409, "422": E422}}},
    "/referrals/{id}/submit": action("Submit: checks completeness and eligibility, sets the due date", extra={"422": err("Incomplete or ineligible; details carry the problems or the eligibility decision")}),
    "/referrals/{id}/claim": action("Claim for review (consultants)"),
    "/referrals/{id}/request-information": action("Ask the referrer for more information or photos", message),
    "/referrals/{id}/reply": action("Answer an information request (referrers)", message),
    "/referrals/{id}/outcome": action("Record the outcome (consultants)", outcome),
    "/referrals/{id}/withdraw": action("Withdraw (referrers)", {"type": "object", "additionalProperties": False, "properties": {"reason": {"type": "string"}}}),
    "/referrals/{id}/close": action("Close after reading the outcome (referrers)"),
    "/referrals/{id}/photos": {
        "get": {"summary": "Photos with quality reports", "tags": ["photos"], "parameters": [ID], "responses": {"200": ok("Photos", S(photos={"type": "array", "items": ref("Photo")})), "401": E401, "404": E404}},
        "post": {"summary": "Upload a photo; it is checked at once", "tags": ["photos"], "parameters": [ID],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}, "kind": enum("locator", "close_up", "dermoscopic")}}}}},
            "responses": {"201": ok("Stored, with its quality report", ref("Photo")), "400": E400, "401": E401, "403": E403, "404": E404, "409": E409, "413": err("Larger than the upload limit (file_too_large), or needs more memory to decode than this node's whole intake budget (image_too_large_to_process)"), "422": err("Refused by the intake pipeline (code says why)"),
                          "503": err("Busy: the node's intake memory budget is in use (code intake_busy), the photo store cannot be reached (blob_store_unavailable: nothing was saved) or the database cannot be reached (database_unavailable); send again after Retry-After seconds"),
                          "507": err("The photo store is full (code blob_store_full): nothing was saved; an administrator must make room")}}},
    "/referrals/{id}/photos/{photo_id}": {"delete": {"summary": "Remove a photo from a draft", "tags": ["photos"], "parameters": [ID, PHOTO_ID], "responses": {"204": {"description": "Removed"}, "401": E401, "403": E403, "404": E404, "409": E409}}},
    "/referrals/{id}/photos/{photo_id}/{variant}": {"get": {"summary": "Photo bytes", "tags": ["photos"], "parameters": [ID, PHOTO_ID, {"name": "variant", "in": "path", "required": True, "schema": enum("original", "attachment", "preview", "thumbnail")}],
        "responses": {"200": {"description": "Image", "content": {"image/jpeg": {}, "image/png": {}}}, "401": E401, "404": E404,
                      "503": err("The photo cannot be decrypted with the configured key: code blob_key_mismatch (set TELEDERM_BLOB_KEY_FILE to the key it was stored with) or blob_not_encrypted (run telederm keys rotate); or the photo store (blob_store_unavailable) or the database (database_unavailable) cannot be reached just now: send again after Retry-After seconds")}}},
    "/admin/jobs": {"get": {"summary": "Background jobs of one state (default dead), with counts by state and notifications waiting (system admins)", "tags": ["operations"],
        "parameters": [{"name": "state", "in": "query", "required": False, "schema": enum("queued", "running", "done", "dead")},
                       {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
        "responses": {"200": ok("Jobs", S(jobs={"type": "array", "items": ref("Job")}, counts={"type": "object", "additionalProperties": {"type": "integer"}}, outbox_pending={"type": "integer"}, notifier={"type": ["string", "null"], "description": "The provider configured on the node that answered (SMTP, GOV.UK Notify), or null: notifications then wait in the outbox"})),
                      "400": E400, "401": E401, "403": E403}}},
    "/admin/jobs/{id}/retry": {"post": {"summary": "Give a dead job a fresh set of attempts, due now (system admins)", "tags": ["operations"], "parameters": [ID],
        "responses": {"200": ok("The job, queued again", S(job=ref("Job"))), "401": E401, "403": E403, "404": err("No dead job with this id")}}},
    "/worklist": {"get": {"summary": "Open referrals of the caller's services, earliest deadline first", "tags": ["referrals"], "parameters": list_params, "responses": {"200": ok("Worklist", ref("ReferralList")), "400": E400, "401": E401, "403": E403}}},
    "/fhir": {"post": {"summary": "Import a FHIR R4 transaction Bundle as the caller's draft referrals (referrers only; never outcomes or accounts)", "tags": ["fhir"],
        "parameters": [{"name": "submit", "in": "query", "required": False, "schema": {"type": "boolean"}, "description": "true: send each draft at once by the ordinary submit rules (checked before anything is written)"}],
        "requestBody": {"required": True, "content": {"application/fhir+json": {"schema": {"type": "object"}}, "application/json": {"schema": {"type": "object"}}}},
        "responses": {"201": ok("Created; a transaction-response Bundle", {"type": "object"}), "400": E400, "401": E401, "403": E403, "422": ok("OperationOutcome naming each problem", {"type": "object"})}}},
    "/fhir/ServiceRequest/{id}/$everything": {"get": {"summary": "The referral as a FHIR Bundle", "tags": ["fhir"], "parameters": [ID], "responses": {"200": ok("Bundle", {"type": "object"}), "401": E401, "404": E404}}},
    "/fhir/Questionnaire/telederm-referral": {"get": {"summary": "The referral Questionnaire Telederm publishes (public: no patient data)", "tags": ["fhir"], "security": [], "responses": {"200": ok("Questionnaire", {"type": "object"})}}},
    "/referrals/{id}/letters/{kind}": {"get": {"summary": "Outcome letter for the GP or the patient", "tags": ["letters"], "parameters": [ID,
        {"name": "kind", "in": "path", "required": True, "schema": enum("gp", "patient", "patient-large-print")},
        {"name": "format", "in": "query", "required": False, "schema": enum("pdf", "html")}],
        "responses": {"200": {"description": "Letter", "content": {"application/pdf": {}, "text/html": {}}}, "401": E401, "404": E404, "409": E409}}},
}
# Answers every operation can give besides its own (checked by scripts/schemathesis.sh):
# cross-site state changes are refused (security.rs), bodies are limited and must be JSON where
# JSON is documented, and malformed parameters or bodies are 400.
FHIR_JSON = ("application/fhir+json", "application/json")
for path, ops in paths.items():
    for method, op in ops.items():
        r = op["responses"]
        if method in ("post", "patch", "put", "delete"):
            r.setdefault("403", err("csrf_refused: the request came from another site (or your role may not do this)"))
        if "requestBody" in op:
            r.setdefault("400", E400)
            r.setdefault("413", err("body_too_large: the body is over the limit for this route"))
            if "application/json" in op["requestBody"]["content"] and len(op["requestBody"]["content"]) == 1:
                r.setdefault("415", err("unsupported_media_type: send the body as application/json"))
        if op.get("parameters"):
            r.setdefault("400", E400)
        if path not in ("/healthz",) and not path.startswith("/fhir/Questionnaire"):
            r.setdefault("503", E503)
        if path.startswith("/fhir"):
            # FHIR answers are application/fhir+json (errors are OperationOutcomes).
            for code, resp in r.items():
                content = resp.get("content")
                if content and "application/json" in content:
                    schema = content["application/json"]["schema"] if code.startswith("2") else {"type": "object"}
                    resp["content"] = {t: {"schema": schema} for t in FHIR_JSON}
doc = {"openapi": "3.1.0", "info": {"title": "Telederm API", "version": "1", "description": "Teledermatology referrals. Errors are {code, message, details}; codes are stable."},
       "servers": [{"url": "/api/v1"}], "security": [{"session": []}], "paths": paths,
       "components": {"schemas": schemas, "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "telederm_session"}}}}
out = pathlib.Path(__file__).resolve().parent.parent / "crates/web/src/api/openapi.json"
out.write_text(json.dumps(doc, indent=1) + "\n")
print(f"wrote {out}")
