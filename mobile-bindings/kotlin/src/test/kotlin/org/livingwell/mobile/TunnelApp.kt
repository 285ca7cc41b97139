package org.livingwell.mobile

import java.io.File
import uniffi.livingwell_mobile.Client

/**
 * The app in the tunnel: queues each message and says so only once the engine has it durably,
 * then waits to be killed. Arguments: the phone's directory, the server, the conversation, the
 * messages.
 */
fun main(args: Array<String>) {
    val phone = File(args[0])
    val client = Client(File(phone, "store").path, args[1], FileStorage(File(phone, "secrets")))
    for (text in args.drop(3)) {
        client.sendMessage(args[2], text)
        println("queued $text")
        System.out.flush()
    }
    Thread.sleep(60_000)
}
