package org.livingwell.mobile

import java.time.LocalDate
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.livingwell_mobile.PlanSection
import uniffi.livingwell_mobile.Screen
import uniffi.livingwell_mobile.outcomeDomains

/** The Enablement Plan screen through the generated Kotlin, against the real server. */
class EnablementPlanTest {
    private val server = TestServer()

    @After
    fun stopServer() = server.close()

    @Test
    fun thePlanIsReadOfflineWithItsDatesAndADisagreementGoesWhenTheSignalReturns() =
        runBlocking {
            val alex = Phone().open(server)
            val me = alex.signIn("alex", PASSWORD)
            alex.sync()
            server.stop()

            val plan = alex.watch(Screen.EnablementPlan(me.personId!!)) { enablementPlan(me.personId!!) }.first()
            assertNotNull("the plan, offline", plan)
            assertEquals(1, plan!!.version)
            // Dates are the platform's own type, not text.
            val review: LocalDate? = plan.plan.reviewOn
            assertEquals(LocalDate.of(2027, 2, 8), review)
            assertTrue(plan.plan.outcomeRatings.all { it.ratedOn.isBefore(review) })
            val domains = outcomeDomains().map { it.key }.toSet()
            assertTrue(plan.plan.outcomeRatings.all { domains.containsAll(it.scores.keys) })

            alex.commentOnPlan(me.personId!!, PlanSection.GOALS, "Not the allotment: the garden.", true)
            assertEquals(1, alex.outbox().size)
            server.start()
            assertEquals(1u, alex.networkIsBack().sent)
            val newest = withTimeout(10_000) { alex.planComments(me.personId!!, null) }.comments.first()
            assertEquals(PlanSection.GOALS, newest.section)
            assertTrue("marked as a disagreement", newest.disagree)
        }
}
