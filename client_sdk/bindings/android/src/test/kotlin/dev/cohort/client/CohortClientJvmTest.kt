package dev.cohort.client

import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.nio.file.Files
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Semaphore
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking

/**
 * The Kotlin wrapper and the JNI glue on a host JVM against libcohort_client.so and real servers
 * on loopback (client_sdk_test_server, one process per scenario): a secure round of three
 * devices, construction refusals, cancel and close from other threads while a participation
 * waits, their races, use after close, and a trainer's exception. Prints "N passed, M failed";
 * exits 1 on any failure.
 *
 *   java -Djava.library.path=DIR -cp JARS dev.cohort.client.CohortClientJvmTest SERVER_BINARY
 */
object CohortClientJvmTest {
    private var passed = 0
    private var failed = 0
    private val root: File = Files.createTempDirectory("cohort_jvm_test").toFile()
    private var nextDir = 0

    private fun check(condition: Boolean, what: String) {
        if (condition) ++passed else {
            ++failed
            System.err.println("CHECK failed: $what")
        }
    }

    private fun freshDir(): String = File(root, "d${nextDir++}").path

    private fun deviceId(name: String) = "jvm-test-device-$name-0123456789"

    /** A client_sdk_test_server serving one task until [stop]. */
    private class TestServer(binary: String, population: String, devices: Int, secagg: Boolean) {
        private val doneFile = File(root, "done-$population")
        private val process: Process = ProcessBuilder(
            binary, "--population=$population", "--devices=$devices",
            "--secagg=${if (secagg) 1 else 0}", "--inputs=4", "--classes=3",
            "--timeout_s=240", "--done_file=${doneFile.path}")
            .redirectError(ProcessBuilder.Redirect.INHERIT).start()
        private val output = BufferedReader(InputStreamReader(process.inputStream))
        val address: String

        init {
            val line = output.readLine() ?: error("the test server did not start")
            check(line.startsWith("address=")) { "unexpected first line '$line'" }
            address = line.removePrefix("address=")
        }

        /** The server's summary line once every started round has ended ("committed=..."). */
        fun summary(): String {
            while (true) {
                val line = output.readLine() ?: return ""
                if (line.startsWith("committed=")) return line
            }
        }

        /** Ends the server: at once if its round is done, else (a round left forming) by SIGTERM. */
        fun stop() {
            doneFile.createNewFile()
            if (!process.waitFor(2, TimeUnit.SECONDS)) process.destroy()
            process.waitFor()
        }
    }

    /** Adds 0.01 to every parameter and claims 10 examples, as the C ABI test's trainer does. */
    private class StepTrainer : Trainer {
        @Volatile var calls = 0
        override fun train(parameters: FloatArray, epochs: Int, batchSize: Int,
                           learningRate: Double, round: Long): TrainingResult {
            ++calls
            return TrainingResult(FloatArray(parameters.size) { parameters[it] + 0.01f }, 10, 0.5)
        }
    }

    /** Records the stages; [awaitWaiting] returns once a participation waits for its round. */
    private class StageRecorder : ProgressListener {
        val stages: MutableList<Stage> = Collections.synchronizedList(mutableListOf<Stage>())
        private val waits = Semaphore(0)
        override fun onProgress(stage: Stage, round: Long, fraction: Double) {
            stages.add(stage)
            if (stage == Stage.WAITING) waits.release()
        }
        fun awaitWaiting(): Boolean = waits.tryAcquire(60, TimeUnit.SECONDS)
        /** Forgets earlier reports, before a participation whose WAITING is awaited. */
        fun forget() = waits.drainPermits()
    }

    private val eligible = Eligibility(charging = true, unmetered = true, idle = true,
                                       batteryPercent = 90)
    private val quickRetries = CohortOptions(initialBackoffMillis = 100, maxBackoffMillis = 1000)

    private fun client(address: String, population: String, name: String,
                       trainer: Trainer = StepTrainer(),
                       progress: ProgressListener? = null): CohortClient =
        CohortClient(address, "", population, freshDir(), deviceId(name), trainer, progress,
                     quickRetries).also { it.setEligibility(eligible) }

    /** The code of the CohortException [block] throws, or -1 if it returns. */
    private fun cohortCode(block: () -> Unit): Int =
        try {
            block()
            -1
        } catch (e: CohortException) {
            e.code
        }

    private fun refusesConstruction(address: String) {
        fun create(population: String, id: String, at: String = address) =
            CohortClient(at, "", population, freshDir(), id, StepTrainer()).close()
        val short = try {
            create("jvm", "too-short")
            null
        } catch (e: CohortException) {
            e
        }
        check(short?.code == 3 && short.message!!.contains("device_id must be 16 to 128"),
              "a 9-byte device id is refused at construction: ${short?.message}")
        check(cohortCode { create("jvm", "device id with spaces") } == 3, "spaces in the id")
        check(cohortCode { create("", deviceId("p")) } == 3, "an empty population")
        check(cohortCode { create("jvm", deviceId("x"), "fl.example.com:443") } == 3,
              "plaintext to a non-loopback address")
        val dir = freshDir()
        CohortClient(address, "", "jvm", dir, deviceId("a"), StepTrainer()).use {
            check(cohortCode { CohortClient(address, "", "jvm", dir, deviceId("b"),
                                            StepTrainer()).close() } == 9,
                  "a storage directory another client holds: FAILED_PRECONDITION")
        }
    }

    private fun secureRound(binary: String) {
        val server = TestServer(binary, "kotlin-round", devices = 3, secagg = true)
        val trainers = List(3) { StepTrainer() }
        val recorders = List(3) { StageRecorder() }
        val clients = List(3) {
            client(server.address, "kotlin-round", "round-$it", trainers[it], recorders[it])
        }
        val outcomes = runBlocking { clients.map { async { it.runOnce() } }.awaitAll() }
        clients.forEach { it.close() }
        check(server.summary().startsWith("committed=1 version=1"), "the server committed v1")
        server.stop()
        for (i in 0 until 3) {
            val o = outcomes[i]
            check(o.kind == OutcomeKind.CONTRIBUTED && o.newModelVersion == 1L && o.roundNumber == 1L,
                  "device $i contributed to round 1: ${o.kind} v${o.newModelVersion} ${o.reason}")
            check(trainers[i].calls == 1, "device $i trained once")
            val stages = recorders[i].stages
            check(stages.containsAll(listOf(Stage.CHECKING_IN, Stage.ADVERTISING_KEYS,
                                            Stage.SHARING_KEYS, Stage.TRAINING, Stage.UPLOADING,
                                            Stage.UNMASKING, Stage.DONE)),
                  "device $i reported every secure stage: $stages")
            check(stages.last() == Stage.DONE, "device $i ended with DONE")
        }
    }

    /** Cancels and closes while devices wait for a round that never forms (it needs 50). */
    private fun cancelAndClose(binary: String) {
        val server = TestServer(binary, "kotlin-forming", devices = 50, secagg = true)
        val address = server.address

        // Cancelling the coroutine cancels the participation; runOnce returns once it ended.
        run {
            val recorder = StageRecorder()
            val c = client(address, "kotlin-forming", "coroutine", progress = recorder)
            var thrown: Throwable? = null
            runBlocking {
                // Off runBlocking's thread, which blocks below waiting for the listener.
                val job = launch(Dispatchers.Default) {
                    try {
                        c.runOnce()
                    } catch (e: Throwable) {
                        thrown = e
                        throw e
                    }
                }
                check(recorder.awaitWaiting(), "the device waits in FORMING")
                job.cancel()
                job.join()
            }
            check(thrown is CancellationException, "runOnce threw CancellationException: $thrown")
            // Nothing was left running: the next participation starts, and cancel() ends it.
            var code = 0
            recorder.forget()
            val again = thread { code = cohortCode { c.runOnceBlocking() } }
            check(recorder.awaitWaiting(), "a second participation waits in FORMING")
            c.cancel()
            again.join(30_000)
            check(!again.isAlive && code == 1, "the second participation was cancelled: $code")
            c.close()
        }

        // cancel() from another thread: the blocking call throws CANCELLED.
        run {
            val recorder = StageRecorder()
            val c = client(address, "kotlin-forming", "cancel", progress = recorder)
            var code = 0
            val runner = thread { code = cohortCode { c.runOnceBlocking() } }
            check(recorder.awaitWaiting(), "the device waits in FORMING")
            thread { c.cancel() }.join()
            runner.join(30_000)
            check(!runner.isAlive && code == 1, "cancel() ended the participation: code $code")
            c.close()
        }

        // close() from another thread: cancels, waits for the participation, frees the client;
        // every later call is refused without touching freed memory.
        run {
            val recorder = StageRecorder()
            val c = client(address, "kotlin-forming", "close", progress = recorder)
            var code = 0
            val runner = thread { code = cohortCode { c.runOnceBlocking() } }
            check(recorder.awaitWaiting(), "the device waits in FORMING")
            val closer = thread { c.close() }
            closer.join(30_000)
            runner.join(30_000)
            check(!closer.isAlive && !runner.isAlive && code == 1,
                  "close() ended the participation (CANCELLED) and returned: code $code")
            check(refusedAfterClose { c.runOnceBlocking() }, "runOnceBlocking after close")
            check(refusedAfterClose { runBlocking { c.runOnce() } }, "runOnce after close")
            check(refusedAfterClose { c.setEligibility(eligible) }, "setEligibility after close")
            c.cancel()
            c.close()  // nothing to do: no exception, no second free
        }

        // close() from the participation's own thread (a listener): returns at once, the
        // participation ends CANCELLED and frees the client as runOnce returns.
        run {
            var c: CohortClient? = null
            val closedFromCallback = CountDownLatch(1)
            val listener = object : ProgressListener {
                override fun onProgress(stage: Stage, round: Long, fraction: Double) {
                    if (stage == Stage.WAITING && closedFromCallback.count > 0) {
                        c!!.close()
                        closedFromCallback.countDown()
                    }
                }
            }
            c = client(address, "kotlin-forming", "close-in-callback", progress = listener)
            var code = 0
            val runner = thread { code = cohortCode { c.runOnceBlocking() } }
            runner.join(60_000)
            check(closedFromCallback.count == 0L && !runner.isAlive && code == 1,
                  "close() inside the listener ended the participation: code $code")
            check(refusedAfterClose { c.runOnceBlocking() }, "runOnceBlocking after that close")
        }

        // cancel() and close() racing each other and the start of a participation.
        var outcomes = 0
        for (i in 0 until 20) {
            val c = client(address, "kotlin-forming", "race-$i")
            val start = CountDownLatch(1)
            val results = Collections.synchronizedList(mutableListOf<String>())
            val runner = thread {
                start.await()
                results.add(try {
                    c.runOnceBlocking().kind.name
                } catch (e: CohortException) {
                    "code ${e.code}"
                } catch (e: IllegalStateException) {
                    "closed"
                })
            }
            val canceller = thread { start.await(); c.cancel() }
            val closer = thread { start.await(); if (i % 2 == 0) Thread.sleep(i.toLong()); c.close() }
            start.countDown()
            listOf(runner, canceller, closer).forEach { it.join(30_000) }
            check(!runner.isAlive && !canceller.isAlive && !closer.isAlive,
                  "race $i: every thread ended")
            val result = results.firstOrNull()
            check(result == "code 1" || result == "closed", "race $i: cancelled or closed: $result")
            if (result == "code 1") ++outcomes
        }
        println("races: $outcomes of 20 cancelled a started participation")
        server.stop()
    }

    private fun timed(what: String, block: () -> Unit) {
        val start = System.nanoTime()
        block()
        println("$what: ${(System.nanoTime() - start) / 1_000_000} ms")
    }

    private fun refusedAfterClose(block: () -> Unit): Boolean =
        try {
            block()
            false
        } catch (e: IllegalStateException) {
            e.message == "CohortClient is closed"
        }

    /** A trainer's exception reaches runOnce's caller as the cause of a CohortException. */
    private fun trainerException(binary: String) {
        val server = TestServer(binary, "kotlin-trainer", devices = 2, secagg = false)
        val failing = object : Trainer {
            override fun train(parameters: FloatArray, epochs: Int, batchSize: Int,
                               learningRate: Double, round: Long): TrainingResult =
                throw IllegalStateException("no local examples yet")
        }
        val clients = List(2) { client(server.address, "kotlin-trainer", "trainer-$it", failing) }
        val errors = runBlocking {
            clients.map {
                async {
                    try {
                        it.runOnce()
                        null
                    } catch (e: CohortException) {
                        e
                    }
                }
            }.awaitAll()
        }
        for (e in errors) {
            check(e != null && e.code == 2 && e.cause is IllegalStateException &&
                  e.message!!.contains("no local examples yet"),
                  "the trainer's exception is the cause: code ${e?.code} '${e?.message}' ${e?.cause}")
        }
        clients.forEach { it.close() }
        server.stop()
    }

    @JvmStatic
    fun main(args: Array<String>) {
        val binary = args[0]
        timed("construction") {
            val server = TestServer(binary, "jvm", devices = 3, secagg = true)
            refusesConstruction(server.address)
            server.stop()
        }
        timed("secure round") { secureRound(binary) }
        timed("cancel and close") { cancelAndClose(binary) }
        timed("trainer exception") { trainerException(binary) }
        root.deleteRecursively()
        println("$passed passed, $failed failed")
        System.exit(if (failed == 0) 0 else 1)
    }
}
