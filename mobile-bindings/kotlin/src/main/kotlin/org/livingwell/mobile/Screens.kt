package org.livingwell.mobile

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.flow.map
import uniffi.livingwell_mobile.Client
import uniffi.livingwell_mobile.Screen
import uniffi.livingwell_mobile.ViewObserver

/*
 * Flows over the engine's observers, for Compose (`collectAsState`). Plain Kotlin: no Android
 * imports, so it is compiled and tested on the desktop JVM.
 */

/**
 * Emits once when subscribed (read what [screen] shows now), then whenever it may have changed.
 * Subscribing comes first, so no change between the first read and the subscription is missed.
 * Cancelling the collection closes the engine's handle, and the engine stops calling. Changes
 * that come faster than they are read are merged into one.
 */
fun Client.changes(screen: Screen): Flow<Unit> =
    callbackFlow {
        val handle =
            subscribe(
                screen,
                object : ViewObserver {
                    override fun changed() {
                        trySend(Unit)
                    }
                },
            )
        trySend(Unit)
        awaitClose { handle.close() }
    }.buffer(Channel.CONFLATED)

/**
 * What [screen] shows, read by [read] now and again after each change: the state a Compose
 * screen collects. Reads come from the phone's store, so this works with no signal. They run on
 * [Dispatchers.IO]: the bindings' plain (non-suspend) reads and writes open the encrypted store
 * on the calling thread, which must not be the main one.
 */
fun <T> Client.watch(
    screen: Screen,
    read: suspend Client.() -> T,
): Flow<T> = changes(screen).map { read() }.flowOn(Dispatchers.IO)
