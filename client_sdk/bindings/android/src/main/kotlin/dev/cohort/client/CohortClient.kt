package dev.cohort.client

/** The app's trainer: trains on data that never leaves the app. Called on the SDK's thread. */
interface Trainer {
    /** Returns the trained parameters (same size as [parameters]) and the local example count. */
    fun train(parameters: FloatArray, epochs: Int, batchSize: Int, learningRate: Double,
              round: Long): TrainingResult
}

class TrainingResult(val parameters: FloatArray, val numExamples: Long, val loss: Double)

enum class OutcomeKind { CONTRIBUTED, ROUND_FAILED, DROPPED, RETRY_LATER }

class Outcome(val kind: OutcomeKind, val taskId: String, val roundNumber: Long,
              val newModelVersion: Long, val retryAtUnixMillis: Long, val reason: String)

/** A failed SDK call: [code] is a cohort_status (absl/gRPC code numbers). */
class CohortException(val code: Int, message: String) : Exception(message)

/**
 * Kotlin face of libcohort_client.so (cohort/cohort_client.h) through cohort_jni.c.
 * runOnce() blocks: call it from a worker (WorkManager), never the main thread.
 */
class CohortClient(
    serverAddress: String,
    tlsRootCertsPem: String,
    population: String,
    storageDir: String,
    deviceId: String,
    trainer: Trainer,
) : AutoCloseable {
    private var handle: Long =
        nativeCreate(serverAddress, tlsRootCertsPem, population, storageDir, deviceId, trainer)

    fun setEligibility(charging: Boolean, unmetered: Boolean, idle: Boolean, batteryPercent: Int) =
        nativeSetEligibility(handle, charging, unmetered, idle, batteryPercent)

    /** One participation; throws [CohortException] (code 1 = CANCELLED after [cancel]). */
    fun runOnce(): Outcome = nativeRunOnce(handle)

    /** Safe from any thread. */
    fun cancel() = nativeCancel(handle)

    override fun close() {
        if (handle != 0L) nativeDestroy(handle)
        handle = 0L
    }

    private companion object {
        init { System.loadLibrary("cohort_jni") }  // links libcohort_client.so
        @JvmStatic external fun nativeCreate(address: String, roots: String, population: String,
                                             storageDir: String, deviceId: String,
                                             trainer: Trainer): Long
        @JvmStatic external fun nativeSetEligibility(handle: Long, charging: Boolean,
                                                     unmetered: Boolean, idle: Boolean,
                                                     batteryPercent: Int)
        @JvmStatic external fun nativeRunOnce(handle: Long): Outcome
        @JvmStatic external fun nativeCancel(handle: Long)
        @JvmStatic external fun nativeDestroy(handle: Long)
    }
}
