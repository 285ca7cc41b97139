package org.livingwell.mobile

import java.io.File
import java.net.HttpURLConnection
import java.net.ServerSocket
import java.net.URI
import java.nio.file.Files
import uniffi.livingwell_mobile.Client
import uniffi.livingwell_mobile.SecureStorage

const val PASSWORD = "livingwell-demo"

/**
 * The real server binary (`LIVINGWELL_SERVER_BIN`) on a fresh SQLite file with the demo people,
 * on a free port. [stop] shuts it down (no signal for the phone); [start] brings it back on the
 * same database and address.
 */
class TestServer : AutoCloseable {
    private val dir: File = Files.createTempDirectory("livingwell-server-").toFile()
    private val port: Int = ServerSocket(0).use { it.localPort }
    val baseUrl = "http://127.0.0.1:$port"
    private var process: Process? = null

    init {
        start()
    }

    fun start() {
        val binary =
            System.getenv("LIVINGWELL_SERVER_BIN")
                ?: error("LIVINGWELL_SERVER_BIN names the server binary")
        process =
            ProcessBuilder(
                binary, "serve", "--demo",
                "--bind", "127.0.0.1:$port",
                "--database-url", "sqlite://${dir.path}/livingwell.db",
                "--data-dir", dir.path,
                "--message-rate-limit", "0",
            ).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start()
        val deadline = System.nanoTime() + 30_000_000_000L
        while (System.nanoTime() < deadline) {
            if (healthy()) return
            check(process?.isAlive == true) { "the server exited while starting" }
            Thread.sleep(100)
        }
        error("the server did not start within 30 s")
    }

    private fun healthy(): Boolean =
        try {
            val connection = URI("$baseUrl/healthz").toURL().openConnection() as HttpURLConnection
            connection.connectTimeout = 1_000
            connection.responseCode == 200
        } catch (_: java.io.IOException) {
            false
        }

    fun stop() {
        process?.let {
            it.destroy()
            it.waitFor()
        }
        process = null
    }

    /** A staff member's sign-in, over HTTP: their access token. */
    fun login(username: String): String {
        val answer = request("POST", "/v1/auth/login", null, "{\"username\":\"$username\",\"password\":\"$PASSWORD\"}")
        return Regex("\"access_token\"\\s*:\\s*\"([^\"]+)\"").find(answer)?.groupValues?.get(1)
            ?: error("no access token for $username")
    }

    /** One request as a staff member would make it; the answer's body (a 4xx or 5xx fails). */
    fun request(
        method: String,
        path: String,
        token: String?,
        body: String? = null,
    ): String {
        val connection = URI("$baseUrl$path").toURL().openConnection() as HttpURLConnection
        connection.requestMethod = method
        token?.let { connection.setRequestProperty("Authorization", "Bearer $it") }
        if (body != null) {
            connection.doOutput = true
            connection.setRequestProperty("Content-Type", "application/json")
            connection.outputStream.use { it.write(body.toByteArray()) }
        }
        check(connection.responseCode in 200..299) { "$method $path: ${connection.responseCode}" }
        return connection.inputStream.use { String(it.readBytes()) }
    }

    override fun close() = stop()
}

/** Secrets in files: for tests only — a phone keeps them in the Keystore or Keychain. */
class FileStorage(private val dir: File) : SecureStorage {
    init {
        dir.mkdirs()
    }

    override fun get(name: String): ByteArray? = File(dir, name).takeIf { it.exists() }?.readBytes()

    override fun set(
        name: String,
        value: ByteArray,
    ) {
        val next = File(dir, "$name.new")
        next.writeBytes(value)
        Files.move(
            next.toPath(),
            File(dir, name).toPath(),
            java.nio.file.StandardCopyOption.ATOMIC_MOVE,
            java.nio.file.StandardCopyOption.REPLACE_EXISTING,
        )
    }

    override fun delete(name: String) {
        File(dir, name).delete()
    }
}

/** One phone: its own store directory and secrets. */
class Phone(
    val dir: File = Files.createTempDirectory("livingwell-phone-").toFile(),
) {
    fun open(server: TestServer): Client = Client(File(dir, "store").path, server.baseUrl, FileStorage(File(dir, "secrets")))
}
