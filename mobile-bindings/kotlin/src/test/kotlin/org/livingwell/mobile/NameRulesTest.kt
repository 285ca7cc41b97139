package org.livingwell.mobile

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

/** Calls the Rust core through the generated bindings (JNA, the release library). */
class NameRulesTest {
    @Test
    fun maxLengthIsTheCoreLimit() {
        assertEquals(120, NameRules.maxLength)
    }

    @Test
    fun ordinaryNamesAreAccepted() {
        assertTrue(NameRules.isAcceptable("Alex"))
        assertTrue(NameRules.isAcceptable("Siân Ó Briain-Zoë"))
    }

    @Test
    fun invisibleAndControlCharactersAreRefused() {
        assertFalse("right-to-left override", NameRules.isAcceptable("Al\u202Eex"))
        assertFalse("zero-width space", NameRules.isAcceptable("Al\u200Bex"))
        assertFalse("U+0000 crosses the boundary and is refused", NameRules.isAcceptable("Al\u0000ex"))
        assertFalse("blank", NameRules.isAcceptable("   "))
    }

    @Test
    fun lengthIsCountedInCodePointsNotUtf16Units() {
        // U+1F600 is two UTF-16 units in Kotlin and four bytes in Rust's UTF-8: one scalar value.
        val face = "\uD83D\uDE00"
        assertTrue(NameRules.isAcceptable(face.repeat(NameRules.maxLength)))
        assertFalse(NameRules.isAcceptable(face.repeat(NameRules.maxLength + 1)))
        assertTrue(NameRules.isAcceptable("a".repeat(120)))
        assertFalse(NameRules.isAcceptable("a".repeat(121)))
    }
}
