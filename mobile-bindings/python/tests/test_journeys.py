"""The engine driven through the generated Python bindings, against a real server."""

import asyncio
import os
import tempfile
import threading
import unittest

import livingwell_mobile as lw
from support import PASSWORD, FileStorage, Server


class OfflineRead(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.stop)

    def test_the_crisis_plan_and_next_appointment_read_with_no_signal(self):
        phone = tempfile.mkdtemp(prefix="livingwell-phone-")
        client = lw.Client(
            os.path.join(phone, "store"), self.server.base_url, FileStorage(os.path.join(phone, "secrets"))
        )

        async def journey():
            alex = await client.sign_in("alex", PASSWORD)
            self.assertEqual(alex.role, lw.Role.SERVICE_USER)
            await client.sync()
            self.server.stop()

            plan = await client.crisis_plan(alex.person_id)
            self.assertIsNotNone(plan, "the crisis plan, offline")
            self.assertIn(lw.CrisisPlanSection.WHEN_WELL, plan.shared_sections)
            self.assertTrue(plan.plan.when_well, "alex's own words")
            upcoming = client.appointments()
            self.assertTrue(upcoming, "the next appointment, offline")
            reminders = client.reminders([24 * 60, 2 * 60])
            self.assertTrue(all(r.appointment_id in {a.id for a in upcoming} for r in reminders))
            with self.assertRaises(lw.ClientError.Offline):
                await client.sync()
            with self.assertRaises(lw.ClientError.Invalid) as refused:
                client.reminders([1])
            self.assertEqual(refused.exception.fields[0].field, "minutes_before[0]")

        asyncio.run(journey())

    def test_an_observer_hears_of_a_queued_message_and_stops_when_its_handle_goes(self):
        phone = tempfile.mkdtemp(prefix="livingwell-phone-")
        client = lw.Client(
            os.path.join(phone, "store"), self.server.base_url, FileStorage(os.path.join(phone, "secrets"))
        )

        class Heard(lw.ViewObserver):
            def __init__(self):
                self.times = 0
                self.event = threading.Event()

            def changed(self):
                self.times += 1
                self.event.set()

        async def journey():
            await client.sign_in("alex", PASSWORD)
            await client.sync()
            peer = next(c for c in client.conversations() if c.kind == "peer")
            heard = Heard()
            handle = client.subscribe(lw.Screen.CONVERSATION(peer.id), heard)
            self.server.stop()
            client.send_message(peer.id, "On the train")
            self.assertTrue(heard.event.wait(5), "the conversation screen was told")
            shown = (await client.messages(peer.id, 0, 500))[-1]
            self.assertEqual(shown.text, "On the train")
            self.assertEqual(shown.state, lw.MessageState.QUEUED)
            self.assertIsNotNone(shown.outbox_id)

            handle.cancel()
            del handle
            await asyncio.sleep(0.2)
            before = heard.times
            client.send_message(peer.id, "Still on the train")
            await asyncio.sleep(0.5)
            self.assertEqual(heard.times, before, "no calls after the handle is gone")

        asyncio.run(journey())


if __name__ == "__main__":
    unittest.main()


class FrontDoor(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.stop)

    def test_a_person_with_no_account_refers_themselves_and_the_hub_sees_it(self):
        phone = tempfile.mkdtemp(prefix="livingwell-phone-")
        client = lw.Client(
            os.path.join(phone, "store"), self.server.base_url, FileStorage(os.path.join(phone, "secrets"))
        )
        referral = lw.SelfReferral(
            display_name="Morgan from the app",
            phone="01632 960 999",
            email=None,
            help_wanted="Struggling since the move; would like someone to talk to.",
            consent_to_contact=True,
            team_id=None,
        )

        async def journey():
            # Refused before any work is done: the shared rules name the field.
            with self.assertRaises(lw.ClientError.Invalid) as refused:
                await client.refer_myself(lw.SelfReferral(
                    display_name=referral.display_name, phone=referral.phone, email=None,
                    help_wanted=referral.help_wanted, consent_to_contact=False, team_id=None,
                ))
            self.assertEqual([f.field for f in refused.exception.fields], ["consent_to_contact"])
            # The phone solves the server's challenge and sends the referral, with no account.
            return await client.refer_myself(referral)

        receipt = asyncio.run(journey())
        self.assertTrue(receipt.what_happens_next)
        self.assertTrue(receipt.crisis_lines, "where to turn meanwhile")
        # A practitioner sees it waiting for triage at the front door.
        status, page = self.server.request("GET", "/v1/referrals", self.server.login("priya"))
        self.assertEqual(status, 200, page)
        waiting = {r["id"]: r for r in page["referrals"]}
        self.assertIn(receipt.reference, waiting)
        self.assertEqual(waiting[receipt.reference]["display_name"], "Morgan from the app")
        self.assertEqual(waiting[receipt.reference]["source"], "self")
