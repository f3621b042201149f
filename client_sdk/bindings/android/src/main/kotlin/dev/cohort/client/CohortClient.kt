package dev.cohort.client

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.isActive

/**
 * Kotlin face of libcohort_client.so (cohort/cohort_client.h) through cohort_jni.c.
 *
 *     CohortClient(address, rootsPem, "keyboard/en", dir, deviceId, trainer).use { client ->
 *         client.setEligibility(Eligibility(charging = true, unmetered = true, idle = true,
 *                                           batteryPercent = 90))
 *         val outcome = client.runOnce()     // suspends; cancelling the coroutine cancels it
 *     }
 *
 * Construction refuses what the server would refuse (an empty population, a device id that is
 * not 16 to 128 printable ASCII bytes, plaintext to a non-loopback address) with a
 * [CohortException] of code 3 (INVALID_ARGUMENT); a storage directory another client holds is
 * code 9 (FAILED_PRECONDITION).
 *
 * Threads: one participation at a time; [cancel], [setEligibility] and [close] are safe from any
 * thread, also while a participation runs. [close] cancels a running participation and returns
 * once it has ended (after the trainer returns, if it was training); every call after [close]
 * throws [IllegalStateException] except [cancel] and [close], which do nothing.
 */
class CohortClient @JvmOverloads constructor(
    serverAddress: String,
    tlsRootCertsPem: String,
    population: String,
    storageDir: String,
    deviceId: String,
    trainer: Trainer,
    progress: ProgressListener? = null,
    options: CohortOptions = CohortOptions()
) : AutoCloseable {
    private val callbacks = NativeCallbacks(trainer, progress)
    private val lock = Object()
    private var handle: Long
    private var running = false
    private var closing = false
    private var participationThread: Thread? = null

    init {
        handle = nativeCreate(serverAddress, tlsRootCertsPem, population, storageDir, deviceId,
                              options.rpcTimeoutMillis, options.initialBackoffMillis,
                              options.maxBackoffMillis)
    }

    fun setEligibility(eligibility: Eligibility) {
        synchronized(lock) {
            check(!closing) { CLOSED }
            nativeSetEligibility(handle, eligibility.charging, eligibility.unmetered,
                                 eligibility.idle, eligibility.batteryPercent)
        }
    }

    /**
     * One participation, on [dispatcher] (blocking I/O and the trainer run there). Cancelling
     * the calling coroutine cancels the participation; this returns once it has ended. Throws
     * [CohortException] for a failed participation (a trainer's exception is its cause).
     */
    suspend fun runOnce(dispatcher: CoroutineDispatcher = Dispatchers.IO): Outcome = coroutineScope {
        val participation = async(dispatcher) {
            try {
                // A cancel of this coroutine before the participation is marked running would
                // find nothing to cancel: the participation checks for it once it is.
                participate { !isActive }
            } catch (e: CohortException) {
                // The caller's cancellation ended it: say so as coroutines do, or the CANCELLED
                // status would replace the caller's CancellationException.
                if (e.code != CANCELLED || isActive) throw e
                throw CancellationException("participation cancelled").apply { initCause(e) }
            }
        }
        try {
            participation.await()
        } catch (e: CancellationException) {
            this@CohortClient.cancel()  // the scope waits for the participation, which now ends
            throw e
        }
    }

    /** [runOnce] for callers without coroutines: blocks; never call it on the main thread. */
    fun runOnceBlocking(): Outcome = participate { false }

    private fun participate(cancelledBeforeStart: () -> Boolean): Outcome {
        val current: Long
        synchronized(lock) {
            check(!closing) { CLOSED }
            check(!running) { "a participation is already running" }
            running = true
            participationThread = Thread.currentThread()
            current = handle
            callbacks.startParticipation()
            if (cancelledBeforeStart()) callbacks.cancelRequested = true
        }
        try {
            return nativeRunOnce(current, callbacks)
        } catch (e: CohortException) {
            val trainerError = callbacks.trainerError ?: throw e
            throw CohortException(e.code, "local training failed: $trainerError", trainerError)
        } finally {
            synchronized(lock) {
                running = false
                participationThread = null
                // A close() during the participation left the freeing to whoever leaves last.
                if (closing) destroy()
                lock.notifyAll()
            }
        }
    }

    /** Cancels a running participation (it throws code 1, CANCELLED); otherwise does nothing. */
    fun cancel() {
        synchronized(lock) {
            if (closing || !running) return
            // Seen by the participation at its next progress report even if this cancel lands
            // before the native side has begun the participation (and so would be forgotten).
            callbacks.cancelRequested = true
            nativeCancel(handle)
        }
    }

    /**
     * Cancels a running participation and frees the client once it has ended. From the
     * participation's own thread (a trainer or listener calling it) it returns at once and the
     * client is freed when runOnce returns.
     */
    override fun close() {
        synchronized(lock) {
            if (closing) return
            closing = true
            if (!running) {
                destroy()
                return
            }
            callbacks.cancelRequested = true
            nativeCancel(handle)
            if (participationThread === Thread.currentThread()) return
            // Not interruptible: an interrupted close() must not leave the client unfreed (and
            // its storage directory held) for the rest of the process.
            var interrupted = false
            while (handle != 0L) {
                try {
                    lock.wait()
                } catch (e: InterruptedException) {
                    interrupted = true
                }
            }
            if (interrupted) Thread.currentThread().interrupt()
        }
    }

    private fun destroy() {
        if (handle == 0L) return
        nativeDestroy(handle)
        handle = 0L
    }

    private companion object {
        const val CLOSED = "CohortClient is closed"
        const val CANCELLED = 1

        init { System.loadLibrary("cohort_jni") }  // links libcohort_client.so

        @JvmStatic external fun nativeCreate(address: String, roots: String, population: String,
                                             storageDir: String, deviceId: String,
                                             rpcTimeoutMillis: Long, initialBackoffMillis: Long,
                                             maxBackoffMillis: Long): Long
        @JvmStatic external fun nativeSetEligibility(handle: Long, charging: Boolean,
                                                     unmetered: Boolean, idle: Boolean,
                                                     batteryPercent: Int)
        @JvmStatic external fun nativeRunOnce(handle: Long, callbacks: NativeCallbacks): Outcome
        @JvmStatic external fun nativeCancel(handle: Long)
        @JvmStatic external fun nativeDestroy(handle: Long)
    }
}

/** Optional transport settings; 0 keeps the SDK's default (30 s, 500 ms, 60 s). */
class CohortOptions @JvmOverloads constructor(
    val rpcTimeoutMillis: Long = 0,
    val initialBackoffMillis: Long = 0,
    val maxBackoffMillis: Long = 0
)
