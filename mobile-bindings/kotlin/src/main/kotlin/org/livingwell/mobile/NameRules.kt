package org.livingwell.mobile

import uniffi.livingwell_mobile.isAcceptableName
import uniffi.livingwell_mobile.nameMaxLength

/**
 * The core's rules for a name shown to other people, exactly as the server applies them, so a
 * form can say at once what the server would refuse.
 *
 * Plain Kotlin over the generated bindings (no Android imports): the Compose facades of the
 * Android app live beside it and are tested on the desktop JVM the same way.
 */
object NameRules {
    /** The longest name accepted, in Unicode scalar values (code points, not UTF-16 units). */
    val maxLength: Int
        get() = nameMaxLength().toInt()

    /** Whether [name] would be accepted: not blank, not too long, no control or invisible characters. */
    fun isAcceptable(name: String): Boolean = isAcceptableName(name)
}
