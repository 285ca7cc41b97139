package org.livingwell.mobile

import java.io.File
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import uniffi.livingwell_mobile.ClientException
import uniffi.livingwell_mobile.CrisisPlanSection
import uniffi.livingwell_mobile.MessageState
import uniffi.livingwell_mobile.Role
import uniffi.livingwell_mobile.Screen
import uniffi.livingwell_mobile.SelfReferral

/** The phone's journeys, through the generated Kotlin bindings, against the real server. */
class JourneysTest {
    private val server = TestServer()

    @After
    fun stopServer() = server.close()

    @Test
    fun theCrisisPlanAndNextAppointmentAreReadWithNoSignal() =
        runBlocking {
            val alex = Phone().open(server)
            val me = alex.signIn("alex", PASSWORD)
            assertEquals(Role.SERVICE_USER, me.role)
            alex.sync()
            server.stop()

            val plan = alex.crisisPlan(me.personId!!)
            assertNotNull("the crisis plan, offline", plan)
            assertTrue(CrisisPlanSection.WHEN_WELL in plan!!.sharedSections)
            assertTrue("alex's own words", plan.plan.whenWell.isNotBlank())
            val next = alex.appointments()
            assertTrue("the next appointment, offline", next.isNotEmpty())
            assertTrue(alex.reminders(listOf(24u * 60u, 120u)).all { r -> next.any { it.id == r.appointmentId } })
            try {
                alex.sync()
                fail("a sync with no signal says so")
            } catch (_: ClientException.Offline) {
            }
        }

    @Test
    fun messagesWrittenInATunnelGoOnceInOrderAfterTheAppIsKilledAndJoHearsThemLive() =
        runBlocking {
            val phone = Phone()
            val alex = phone.open(server)
            alex.signIn("alex", PASSWORD)
            alex.sync()
            val peer = alex.conversations().first { it.kind == "peer" }
            alex.close()

            // In the tunnel: another JVM writes three messages, says they are queued, and is killed.
            server.stop()
            val words = listOf("Into the tunnel", "Still no signal", "Nearly home")
            val app = TunnelApp.start(phone.dir, server.baseUrl, peer.id, words)
            val said = app.inputStream.bufferedReader().lineSequence().take(words.size).toList()
            assertEquals(words.map { "queued $it" }, said)
            app.destroyForcibly().waitFor(10, TimeUnit.SECONDS)

            // Jo's app is open, listening; the signal comes back, and alex's app opens again.
            server.start()
            val jo = Phone().open(server)
            jo.signIn("jo", PASSWORD)
            jo.sync()
            val listening = jo.keepInTouch()
            val again = phone.open(server)
            val sent = again.networkIsBack()
            assertEquals(3u, sent.sent)
            again.sendQueued()

            // Jo's phone hears of them with no sync asked for: once each, in order.
            val heard =
                withTimeout(10_000) {
                    jo.watch(Screen.Conversation(peer.id)) { messages(peer.id, 0L, 500u) }
                        .first { shown -> words.all { w -> shown.any { it.text == w } } }
                }
            assertEquals(words, heard.map { it.text }.filter { it in words })
            listening.close()
            val mine = again.messages(peer.id, 0L, 500u).filter { it.text in words }
            assertTrue(mine.all { it.state >= MessageState.SENT && it.outboxId == null })
        }

    @Test
    fun samsOfflineReadIsInAlexsLogAndARevocationEmptiesHerPhone() =
        runBlocking {
            val alex = Phone().open(server)
            val me = alex.signIn("alex", PASSWORD)
            val person = me.personId!!
            alex.sync()
            val sam = Phone().open(server)
            val samId = sam.signIn("sam", PASSWORD).userId
            sam.sync()

            server.stop()
            val shared = sam.crisisPlan(person)
            assertNotNull("alex's shared crisis plan on sam's phone", shared)
            assertTrue("only what alex shares", CrisisPlanSection.MEDICATION !in shared!!.sharedSections)
            assertEquals("the read, queued", 1, sam.outbox().size)
            server.start()
            sam.networkIsBack()
            assertTrue(sam.outbox().isEmpty())

            alex.sync()
            val offline = alex.accessLog().filter { it.actorId == samId && it.offline }
            assertEquals(1, offline.size)
            assertEquals("crisis_plan", offline[0].resource)

            // Alex stops sharing: sam's next sync takes it off her phone.
            val consent = alex.consents().first { it.carerId == samId && it.revokedAt == null }
            alex.revoke(person, consent.id)
            assertEquals(1u, alex.sendQueued().sent)
            sam.sync()
            assertNull(sam.crisisPlan(person))
            assertTrue(sam.people().none { it.id == person })
        }

    @Test
    fun anObserverHearsOfAChangeAndStopsWhenItsHandleIsClosed() =
        runBlocking {
            val alex = Phone().open(server)
            alex.signIn("alex", PASSWORD)
            alex.sync()
            val peer = alex.conversations().first { it.kind == "peer" }
            server.stop()

            val calls = java.util.concurrent.atomic.AtomicInteger()
            val handle =
                alex.subscribe(
                    Screen.Outbox,
                    object : uniffi.livingwell_mobile.ViewObserver {
                        override fun changed() {
                            calls.incrementAndGet()
                        }
                    },
                )
            alex.sendMessage(peer.id, "Heard?")
            val deadline = System.nanoTime() + 5_000_000_000L
            while (calls.get() == 0 && System.nanoTime() < deadline) Thread.sleep(20)
            assertTrue("the observer was called", calls.get() > 0)

            handle.close()
            Thread.sleep(200)
            val before = calls.get()
            alex.sendMessage(peer.id, "Still there?")
            Thread.sleep(500)
            assertEquals("no calls once the handle is closed", before, calls.get())

            // The Flow a screen collects: the queued messages, read from the store.
            val shown = alex.watch(Screen.Conversation(peer.id)) { messages(peer.id, 0L, 500u) }.first()
            assertEquals(listOf("Heard?", "Still there?"), shown.filter { it.state == MessageState.QUEUED }.map { it.text })
        }

    @Test
    fun aPersonWithNoAccountRefersThemselvesAndTheHubSeesIt() =
        runBlocking {
            val phone = Phone().open(server)
            val referral =
                SelfReferral(
                    displayName = "Morgan from the app",
                    phone = "01632 960 998",
                    email = null,
                    helpWanted = "Struggling since the move; would like someone to talk to.",
                    consentToContact = true,
                    teamId = null,
                )
            try {
                phone.referMyself(referral.copy(consentToContact = false))
                fail("a referral without consent to contact is refused before it goes")
            } catch (refused: ClientException.Invalid) {
                assertEquals(listOf("consent_to_contact"), refused.fields.map { it.field })
            }
            // The phone solves the server's challenge and sends it, with no account.
            val receipt = phone.referMyself(referral)
            assertTrue(receipt.whatHappensNext.isNotBlank())
            assertTrue("where to turn meanwhile", receipt.crisisLines.isNotEmpty())
            val waiting = server.request("GET", "/v1/referrals", server.login("priya"))
            assertTrue("the hub's practitioner finds it waiting for triage", receipt.reference in waiting)
        }
}

/** A second JVM over the same phone's store: the app in the tunnel, killed by the test. */
object TunnelApp {
    fun start(
        phone: File,
        baseUrl: String,
        conversation: String,
        words: List<String>,
    ): Process {
        val java = File(System.getProperty("java.home"), "bin/java").path
        return ProcessBuilder(
            listOf(
                java,
                "-Djna.library.path=${System.getProperty("jna.library.path")}",
                "-cp",
                System.getProperty("java.class.path"),
                "org.livingwell.mobile.TunnelAppKt",
                phone.path,
                baseUrl,
                conversation,
            ) + words,
        ).redirectError(ProcessBuilder.Redirect.INHERIT).start()
    }
}
