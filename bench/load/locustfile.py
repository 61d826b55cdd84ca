"""Mixed load on two Telederm nodes (issue 18), driven by bench/load/run.sh.

Four kinds of people; each locust user is one person signed in on one of the two nodes (users are
dealt to the nodes in turn, so each node gets half of every kind):

* GPs browse their practice's list (the page and GET /api/v1/referrals, sometimes filtered or
  searched), open a referral (API and page), and now and then send one: a draft, three 12 MP phone
  photos (a locator and two close-ups), submit.
* Consultants work the worklist: GET /api/v1/worklist and the page, open a submitted case (page,
  photo list, the previews), claim it and record an outcome.
* Patients answer a practice's photo request: the practice starts a draft and sends a patient link
  (the form on the referral page: links are made there, not in the JSON API), the patient opens
  the link on their phone, confirms their date of birth, uploads three photos a few seconds apart
  and finishes, and the practice then submits the referral.
* Service admins open the dashboard and the report pages.

The mix, by locust's class weights: GPs 10, consultants 5, patients 2, service admins 2 (of 200
users about 105, 53, 21 and 21). A GP waits 4-12 s between actions and sends a referral in one
action of eleven; a patient's round takes about 20 s and the next starts 15-45 s later. At 200
users that offers about 1.1 GP referrals and 0.4 patient links a second: about 4.6 photos of 12 MP
a second in all.

Every request is named by its route template (ids replaced by {id}, tokens by {token}), so the
statistics group the same endpoint together. A request counts as a failure when its status is not
the one the endpoint answers on success; its message is "HTTP <status> <error code>". One answer
is expected under concurrency and not a failure: a consultant's claim of a case another consultant
claimed first (409), counted under a name of its own.

Configuration (environment, set by run.sh): LOAD_HOSTS (comma-separated base URLs), LOAD_ACCOUNTS
(a JSON file of accounts by role), LOAD_PHOTOS (a directory of JPEGs), LOAD_REQUEST_LOG (optional: a
CSV file that gets one line per request: start time, method, name, milliseconds, status, failed,
node), which run.sh uses for the per-node figures and to see when slow requests happened.
"""

import csv
import itertools
import json
import os
import random
import re
import time
from datetime import date, timedelta
from pathlib import Path

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpSession, FastHttpUser

HOSTS = [h for h in os.environ.get("LOAD_HOSTS", "http://127.0.0.1:8080").split(",") if h]
ACCOUNTS = json.loads(Path(os.environ["LOAD_ACCOUNTS"]).read_text()) if os.environ.get("LOAD_ACCOUNTS") else {}
PHOTOS = [p.read_bytes() for p in sorted(Path(os.environ.get("LOAD_PHOTOS", "photos")).glob("*.jpg"))]

GP_SERVICE = "nhs-advice-and-guidance"  # A&G, photos taken by the practice
LINK_SERVICE = "clinical-partnership"  # A&G, takes photos through patient upload links
REPORT_SERVICES = [GP_SERVICE, LINK_SERVICE]

_host_turn = itertools.count()
_request_log = open(os.environ["LOAD_REQUEST_LOG"], "w", newline="") if os.environ.get("LOAD_REQUEST_LOG") else None
_request_csv = csv.writer(_request_log) if _request_log else None


@events.request.add_listener
def _log_request(request_type, name, response_time, response, exception, start_time, url=None, **_):
    if _request_csv:
        node = url.split("/")[2] if url and "://" in url else ""
        _request_csv.writerow([f"{start_time:.3f}", request_type, name, f"{response_time:.1f}",
                               getattr(response, "status_code", 0), 1 if exception else 0, node])


@events.quitting.add_listener
def _close_request_log(**_):
    if _request_log:
        _request_log.close()

_account_turn = {role: itertools.count() for role in ("referrer", "consultant", "service_admin")}

SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson",
            "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Khan", "Okafor"]
GIVEN = ["Ada", "Grace", "Alan", "Mary", "John", "Amira", "Chen", "Olu", "Priya", "Tom", "Zara", "Ewan"]
POSTCODES = ["E8 1DY", "E5 0LL", "N16 7UX", "E9 6SR", "E2 8DY"]
DIAGNOSES = [
    ("Discoid eczema", "Potent topical steroid once daily for 2 weeks, then emollients.", "Review in 6 weeks if not settled."),
    ("Seborrhoeic keratosis", "Benign; no treatment needed. Reassure the patient.", "None."),
    ("Psoriasis", "Vitamin D analogue and potent steroid combination once daily for 4 weeks.", "Review in 8 weeks."),
]


def nhs_number():
    """A random NHS number with a valid check digit."""
    while True:
        digits = [random.randint(0, 9) for _ in range(9)]
        if digits[0] == 0:
            continue
        check = 11 - sum(d * (10 - i) for i, d in enumerate(digits)) % 11
        if check == 11:
            check = 0
        if check == 10:
            continue
        s = "".join(map(str, digits)) + str(check)
        return f"{s[:3]} {s[3:6]} {s[6:]}"


def person():
    dob = date(1940, 1, 1) + timedelta(days=random.randint(0, 365 * 60))
    return {
        "nhs_number": nhs_number(), "given_name": random.choice(GIVEN), "family_name": random.choice(SURNAMES),
        "date_of_birth": dob.isoformat(), "sex": random.choice(["female", "male"]), "postcode": random.choice(POSTCODES),
        "contact": {"email": "patient@example.org"},
    }


def draft_body(service, patient, taken_by):
    """A complete draft: history, consent and the eligibility answers (as the journeys' tests send)."""
    answers = {
        "referral_date": date.today().isoformat(),
        "patient": {"date_of_birth": patient["date_of_birth"], "postcode": patient["postcode"]},
        "condition": "rash", "lesion_count": 0, "body_sites": ["arm"],
        "meets_2ww_criteria": False, "extreme_psychological_distress": False, "widespread": False,
        "severe_or_systemic_or_urgent": False, "imaging_practical": True, "safeguarding_concerns": False,
        "has_capacity_to_consent": True, "best_interests_referral": False, "consent_given": True,
        "known_chronic_inflammatory_condition": False, "face_identifiable_in_images": False,
        "dermoscopic_images": False, "images_taken_by": taken_by, "seen_face_to_face": True,
    }
    return {
        "service_id": service, "route": "advice_and_guidance", "priority": "routine", "patient": patient,
        "history": {"presenting_complaint": "Itchy rash on the forearm", "duration": "3 months", "body_sites": ["arm"],
                    "treatments_tried": "Emollients", "relevant_history": "", "medication": "None", "allergies": "NKDA"},
        "consent": {"given_by": "patient", "method": "verbal", "direct_care": True, "teaching": False, "research": False},
        "eligibility_answers": answers,
    }


def error_code(resp):
    try:
        return (resp.json() or {}).get("code", "")
    except Exception:
        return ""


def check(resp, *ok):
    """Marks a catch_response request failed unless its status is one of `ok`. Returns whether it passed."""
    if resp.status_code in ok:
        resp.success()
        return True
    if resp.status_code == 0:
        resp.failure(f"no answer: {resp.error!r}")
    else:
        resp.failure(f"HTTP {resp.status_code} {error_code(resp)}".rstrip())
    return False


def json_or(resp, default):
    try:
        return resp.json()
    except Exception:
        return default


CSRF = re.compile(r'name="_csrf" value="([0-9a-f]+)"')


class Person(FastHttpUser):
    """A signed-in person on one node (the nodes are dealt in turn)."""

    abstract = True
    role = ""
    network_timeout = 180.0
    connection_timeout = 30.0

    def __init__(self, environment):
        self.host = HOSTS[next(_host_turn) % len(HOSTS)]
        super().__init__(environment)
        accounts = ACCOUNTS[self.role]
        self.account = accounts[next(_account_turn[self.role]) % len(accounts)]

    def on_start(self):
        self.me = None
        with self.client.post("/api/v1/auth/sign-in", json={"email": self.account["email"], "password": self.account["password"]},
                              name="POST /api/v1/auth/sign-in", catch_response=True) as r:
            check(r, 200)
        with self.client.get("/api/v1/me", name="GET /api/v1/me", catch_response=True) as r:
            if check(r, 200):
                self.me = json_or(r, {}).get("id")

    def page(self, path, name, ok=(200,)):
        with self.client.get(path, name=name, allow_redirects=False, catch_response=True) as r:
            check(r, *ok)
            return r.text if r.status_code == 200 else ""

    def upload(self, referral, kind):
        photo = random.choice(PHOTOS)
        with self.client.post(f"/api/v1/referrals/{referral}/photos", name="POST /api/v1/referrals/{id}/photos",
                              data={"kind": kind}, files={"file": ("photo.jpg", photo, "image/jpeg")}, catch_response=True) as r:
            return check(r, 201)

    def create_draft(self, service, patient, taken_by):
        with self.client.post("/api/v1/referrals", json=draft_body(service, patient, taken_by), name="POST /api/v1/referrals",
                              catch_response=True) as r:
            if check(r, 201):
                return json_or(r, {}).get("id")
        return None

    def submit(self, referral):
        with self.client.post(f"/api/v1/referrals/{referral}/submit", json={}, name="POST /api/v1/referrals/{id}/submit",
                              catch_response=True) as r:
            check(r, 200)


class GP(Person):
    role = "referrer"
    weight = 10
    wait_time = between(4, 12)

    def on_start(self):
        super().on_start()
        self.known = []

    @task(3)
    def list_page(self):
        self.page("/referrals", "GET /referrals")

    @task(4)
    def list_api(self):
        query = random.choice(["?limit=50", "?limit=50", "?status=outcome_issued&limit=50", f"?q={random.choice(SURNAMES)}&limit=50"])
        with self.client.get(f"/api/v1/referrals{query}", name="GET /api/v1/referrals", catch_response=True) as r:
            if check(r, 200):
                ids = [x["id"] for x in json_or(r, {}).get("referrals", [])]
                if ids:
                    self.known = ids

    @task(3)
    def open_referral(self):
        if not self.known:
            return
        referral = random.choice(self.known)
        with self.client.get(f"/api/v1/referrals/{referral}", name="GET /api/v1/referrals/{id}", catch_response=True) as r:
            check(r, 200)
        self.page(f"/referrals/{referral}", "GET /referrals/{id}")

    @task(1)
    def send_referral(self):
        referral = self.create_draft(GP_SERVICE, person(), "clinician")
        if not referral:
            return
        for kind in ("locator", "close_up", "close_up"):
            if not self.upload(referral, kind):
                return
        self.submit(referral)


class Consultant(Person):
    role = "consultant"
    weight = 5
    wait_time = between(3, 8)

    def on_start(self):
        super().on_start()
        self.worklist = []
        # Cases this simulated consultant claimed itself: several simulated users share each
        # consultant account, and one person does not race their own other session to answer.
        self.claimed = set()

    @task(3)
    def worklist_api(self):
        with self.client.get("/api/v1/worklist", name="GET /api/v1/worklist", catch_response=True) as r:
            if check(r, 200):
                self.worklist = json_or(r, {}).get("referrals", [])

    @task(2)
    def worklist_page(self):
        self.page("/worklist", "GET /worklist")

    @task(3)
    def work_a_case(self):
        mine = [x["id"] for x in self.worklist
                if x.get("status") == "in_review" and x.get("assignee_id") == self.me and x["id"] in self.claimed]
        free = [x["id"] for x in self.worklist[:30] if x.get("status") == "submitted"]
        if not mine and not free:
            return
        referral = random.choice(mine or free)
        self.worklist = [x for x in self.worklist if x["id"] != referral]
        self.page(f"/referrals/{referral}", "GET /referrals/{id}")
        with self.client.get(f"/api/v1/referrals/{referral}/photos", name="GET /api/v1/referrals/{id}/photos", catch_response=True) as r:
            photos = json_or(r, {}).get("photos", []) if check(r, 200) else []
        for p in photos[:3]:
            with self.client.get(f"/api/v1/referrals/{referral}/photos/{p['id']}/preview",
                                 name="GET /api/v1/referrals/{id}/photos/{photo_id}/preview", catch_response=True) as r:
                check(r, 200)
        time.sleep(random.uniform(2, 6))  # looking at the photos
        if not mine:
            with self.client.post(f"/api/v1/referrals/{referral}/claim", json={}, name="POST /api/v1/referrals/{id}/claim",
                                  catch_response=True) as r:
                if r.status_code == 409:
                    # Another consultant took it between the list and the click: expected, counted apart.
                    r.success()
                    r.request_meta["name"] = "POST /api/v1/referrals/{id}/claim [409: taken by another consultant]"
                    return
                if not check(r, 200):
                    return
                self.claimed.add(referral)
        diagnosis, plan, follow_up = random.choice(DIAGNOSES)
        body = {"code": "advice_management_plan", "diagnosis": diagnosis, "management_plan": plan, "follow_up": follow_up}
        with self.client.post(f"/api/v1/referrals/{referral}/outcome", json=body, name="POST /api/v1/referrals/{id}/outcome",
                              catch_response=True) as r:
            if check(r, 200):
                self.claimed.discard(referral)


class ServiceAdmin(Person):
    role = "service_admin"
    weight = 2
    wait_time = between(5, 15)

    @task(3)
    def dashboard(self):
        self.page("/admin", "GET /admin")

    @task(1)
    def reports_index(self):
        self.page("/reports", "GET /reports")

    @task(2)
    def service_dashboard(self):
        self.page(f"/reports/service?service={random.choice(REPORT_SERVICES)}", "GET /reports/service")

    @task(1)
    def practice_quality(self):
        self.page("/reports/practice-quality", "GET /reports/practice-quality")

    @task(1)
    def equity(self):
        self.page(f"/reports/equity?service={random.choice(REPORT_SERVICES)}", "GET /reports/equity")


class Patient(Person):
    """A patient answering their practice's photo request. The account is the practice's (the
    person at the practice who sends the link and later submits); the patient's own requests go
    through a separate client with no session, as from their phone."""

    role = "referrer"
    weight = 2
    wait_time = between(15, 45)

    @task
    def answer_a_photo_request(self):
        patient = person()
        referral = self.create_draft(LINK_SERVICE, patient, "patient")
        if not referral:
            return
        csrf = CSRF.search(self.page(f"/referrals/{referral}", "GET /referrals/{id}"))
        if not csrf:
            return
        with self.client.post(f"/referrals/{referral}/patient-links", data={"_csrf": csrf.group(1)}, allow_redirects=False,
                              name="POST /referrals/{id}/patient-links", catch_response=True) as r:
            if not check(r, 303):
                return
            location = r.headers.get("location", "")
        token = re.search(r"link=%2Fp%2F([0-9a-f]+)", location)
        if not token:
            return
        token = token.group(1)
        phone = FastHttpSession(self.host, request_event=self.environment.events.request, user=self,
                                network_timeout=self.network_timeout, connection_timeout=self.connection_timeout)
        try:
            time.sleep(random.uniform(2, 6))  # the message reaches the patient
            with phone.get(f"/p/{token}", name="GET /p/{token}", allow_redirects=False, catch_response=True) as r:
                check(r, 200)
            y, m, d = patient["date_of_birth"].split("-")
            with phone.post(f"/p/{token}", data={"dob_day": str(int(d)), "dob_month": str(int(m)), "dob_year": y},
                            name="POST /p/{token}", allow_redirects=False, catch_response=True) as r:
                if not check(r, 303):
                    return
            with phone.get(f"/p/{token}", name="GET /p/{token}", allow_redirects=False, catch_response=True) as r:
                if not check(r, 200):
                    return
                csrf = CSRF.search(r.text or "")
            if not csrf:
                return
            csrf = csrf.group(1)
            for kind in ("locator", "close_up", "close_up"):
                time.sleep(random.uniform(2, 6))  # taking the next photo
                with phone.post(f"/p/{token}/photos", data={"_csrf": csrf, "kind": kind},
                                files={"file": ("photo.jpg", random.choice(PHOTOS), "image/jpeg")},
                                name="POST /p/{token}/photos", allow_redirects=False, catch_response=True) as r:
                    if not check(r, 303):
                        return
            with phone.post(f"/p/{token}/done", data={"_csrf": csrf, "consent": "yes"}, name="POST /p/{token}/done",
                            allow_redirects=False, catch_response=True) as r:
                if not check(r, 303):
                    return
        finally:
            phone.client.close()
        time.sleep(random.uniform(2, 6))  # the practice sees the photos arrived
        self.submit(referral)
