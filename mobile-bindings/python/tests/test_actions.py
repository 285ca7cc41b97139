"""Every action a screen offers, driven through the generated Python bindings against a real
server: the Enablement Plan (read, comment, disagree, agree), the diary (answers, workshops,
bookings), messaging (report, edit a queued message, a peer worker's hours), the push token,
and a WRAP edit that met a newer version."""

import asyncio
import datetime
import os
import tempfile
import unittest

import livingwell_mobile as lw
from support import PASSWORD, FileStorage, Server


def new_client(server):
    phone = tempfile.mkdtemp(prefix="livingwell-phone-")
    return lw.Client(
        os.path.join(phone, "store"), server.base_url, FileStorage(os.path.join(phone, "secrets"))
    )


class Actions(unittest.TestCase):
    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.stop)

    def send(self, client, expected_sent):
        sent = asyncio.run(client.send_queued())
        self.assertEqual(client.outbox(), [], "nothing left waiting")
        self.assertEqual((sent.sent, sent.waiting, sent.postponed), (expected_sent, 0, 0))
        self.assertEqual(client.outbox(), [], "nothing left waiting")

    def signed_in(self, username):
        client = new_client(self.server)
        user = asyncio.run(client.sign_in(username, PASSWORD))
        asyncio.run(client.sync())
        return client, user

    def test_the_plan_is_read_commented_on_disagreed_with_and_agreed(self):
        alex, me = self.signed_in("alex")
        screen = asyncio.run(alex.enablement_plan(me.person_id))
        self.assertEqual(screen.version, 1)
        self.assertTrue(screen.plan.goals, "the demo plan's goals")
        self.assertEqual([a.agreed_by.role for a in screen.agreements], ["service_user"])
        self.assertEqual(screen.plan.review_on, datetime.date(2027, 2, 8), "a date is a date")
        labels = [domain.key for domain in lw.outcome_domains()]
        self.assertEqual(len(labels), 10)
        for rating in screen.plan.outcome_ratings:
            self.assertTrue(set(rating.scores) <= set(labels))

        seeded = asyncio.run(alex.plan_comments(me.person_id, None))
        self.assertEqual(len(seeded.comments), 1)
        with self.assertRaises(lw.ClientError.Invalid) as refused:
            alex.comment_on_plan(me.person_id, lw.PlanSection.GOALS, "", True)
        self.assertEqual([f.field for f in refused.exception.fields], ["body"])
        alex.comment_on_plan(
            me.person_id, lw.PlanSection.SUPPORT_LEVEL, "Six weeks is not long enough.", True
        )
        self.send(alex, 1)
        newest = asyncio.run(alex.plan_comments(me.person_id, None)).comments[0]
        self.assertEqual(
            (newest.section, newest.body, newest.disagree),
            (lw.PlanSection.SUPPORT_LEVEL, "Six weeks is not long enough.", True),
        )

        # Priya writes version 2 from the team's side; alex reads it and agrees to it.
        priya = self.server.login("priya")
        path = f"/v1/people/{me.person_id}/enablement-plan"
        status, current = self.server.request("GET", path, priya)
        self.assertEqual(status, 200)
        plan = current["plan"]
        plan["about_me"]["pronouns"] = "they/them"
        status, _ = self.server.request("PUT", path, priya, {"base_version": 1, "plan": plan})
        self.assertEqual(status, 200)
        asyncio.run(alex.sync())
        screen = asyncio.run(alex.enablement_plan(me.person_id))
        self.assertEqual((screen.version, screen.agreements), (2, []))
        self.assertEqual(screen.plan.about_me.pronouns, "they/them")
        alex.agree_to_plan(me.person_id, 2)
        self.send(alex, 1)
        asyncio.run(alex.sync())
        screen = asyncio.run(alex.enablement_plan(me.person_id))
        self.assertEqual([a.version for a in screen.agreements], [2])

    def test_appointments_are_answered_and_workshops_booked_and_given_up(self):
        alex, me = self.signed_in("alex")
        # A workshop session is a booking: it is given up, not moved (below).
        first, second = [
            a for a in alex.appointments() if a.kind != lw.AppointmentKind.ENABLEMENT_WORKSHOP
        ][:2]
        self.assertIsNone(first.request)
        alex.respond_to_appointment(first.id, lw.AppointmentAnswer.CONFIRM())
        suits = lw.TimeRange(
            starts_at=second.starts_at + datetime.timedelta(days=1),
            ends_at=second.ends_at + datetime.timedelta(days=1),
        )
        alex.respond_to_appointment(
            second.id, lw.AppointmentAnswer.RESCHEDULE(reason=None, preferred_times=[suits])
        )
        self.send(alex, 2)
        asyncio.run(alex.sync())
        shown = {a.id: a for a in alex.appointments()}
        self.assertEqual(shown[first.id].status, lw.AppointmentStatus.CONFIRMED)
        request = shown[second.id].request
        self.assertEqual((request.kind, request.answer), (lw.RequestKind.RESCHEDULE, None))
        self.assertEqual(request.preferred_times, [suits])

        page = asyncio.run(alex.workshops(None))
        group = next(w for w in page.workshops if w.title == "WRAP group")
        self.assertEqual((group.places_left, len(group.sessions)), (1, 6))
        [booking] = alex.bookings()
        self.assertEqual((booking.programme_id, booking.status), (group.id, lw.BookingStatus.BOOKED))

        # A place that was never offered cannot be accepted: the write waits, refused, for
        # the person to discard it; it holds nothing else up.
        alex.answer_offer(group.id, booking.id, lw.Decision.ACCEPT)
        asyncio.run(alex.send_queued())
        [refused] = alex.outbox()
        self.assertIsInstance(refused.state, lw.OutboxState.REFUSED)
        alex.discard(refused.id)

        alex.cancel_booking(group.id, booking.id)
        self.send(alex, 1)
        asyncio.run(alex.sync())
        self.assertEqual(alex.bookings()[0].status, lw.BookingStatus.CANCELLED)
        alex.book_workshop(group.id, None)
        self.send(alex, 1)
        asyncio.run(alex.sync())
        statuses = sorted(b.status.name for b in alex.bookings())
        self.assertEqual(statuses, ["BOOKED", "CANCELLED"])

    def test_messages_are_reported_and_edited_while_queued_and_hours_set(self):
        alex, me = self.signed_in("alex")
        peer = next(c for c in alex.conversations() if c.kind == "peer")
        from_jo = next(m for m in asyncio.run(alex.messages(peer.id, 0, 500)) if not m.mine)
        alex.report_message(peer.id, from_jo.id, "It upset me")
        alex.register_device(lw.PushPlatform.FCM, "fcm-token-1")
        self.send(alex, 2)

        self.server.stop()
        queued = alex.send_message(peer.id, "Helo Jo")
        alex.edit_queued_message(queued, "Hello Jo")
        with self.assertRaises(lw.ClientError.Invalid):
            alex.edit_queued_message(queued, "")
        with self.assertRaises(lw.ClientError.NotFound):
            alex.edit_queued_message(queued + 1000, "Hello")
        self.server.start()
        self.send(alex, 1)
        asyncio.run(alex.sync())
        mine = [m.text for m in asyncio.run(alex.messages(peer.id, 0, 500)) if m.mine]
        self.assertEqual(mine.count("Hello Jo"), 1)
        self.assertNotIn("Helo Jo", mine)

        jo, _ = self.signed_in("jo")
        hours = asyncio.run(jo.working_hours())
        self.assertEqual(len(hours.weekly_hours), 5, "Monday to Friday by default")
        jo.set_working_hours(
            [lw.WorkingSpan(day=lw.Day.MON, start="10:00", end="14:00")], False
        )
        self.send(jo, 1)
        hours = asyncio.run(jo.working_hours())
        self.assertEqual(
            [(s.day, s.start, s.end) for s in hours.weekly_hours], [(lw.Day.MON, "10:00", "14:00")]
        )
        with self.assertRaises(lw.ClientError.Forbidden):
            asyncio.run(alex.working_hours())

    def test_a_wrap_edit_that_met_a_newer_version_is_resolved_by_the_person(self):
        alex, me = self.signed_in("alex")
        screen = asyncio.run(alex.wrap(me.person_id))
        self.assertIsNone(alex.wrap_conflict(me.person_id))
        mine = screen.wrap
        mine.post_crisis_plan = "Rest, then see Jo."
        alex.edit_wrap(me.person_id, screen.version, mine)

        # Meanwhile alex's other device saved a newer version.
        token = self.server.login("alex")
        path = f"/v1/people/{me.person_id}/wrap"
        status, current = self.server.request("GET", path, token)
        theirs = current["wrap"]
        theirs["wellness_toolbox"].append("Allotment")
        status, _ = self.server.request(
            "PUT", path, token, {"base_version": screen.version, "wrap": theirs}
        )
        self.assertEqual(status, 200)

        asyncio.run(alex.send_queued())
        conflict = alex.wrap_conflict(me.person_id)
        self.assertIsNotNone(conflict, "both versions kept")
        self.assertEqual(conflict.mine.post_crisis_plan, "Rest, then see Jo.")
        alex.resolve_wrap_conflict(me.person_id, lw.Keep.MINE)
        self.send(alex, 1)
        asyncio.run(alex.sync())
        self.assertIsNone(alex.wrap_conflict(me.person_id))
        kept = asyncio.run(alex.wrap(me.person_id))
        self.assertEqual(kept.version, screen.version + 2)
        self.assertEqual(kept.wrap.post_crisis_plan, "Rest, then see Jo.")


if __name__ == "__main__":
    unittest.main()
