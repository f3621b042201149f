package dev.cohort.client

/** The app's trainer: trains on data that never leaves the app. Called on runOnce's thread. */
interface Trainer {
    /**
     * Returns the trained parameters (same size as [parameters]) and the local example count.
     * An exception ends the participation: runOnce throws a [CohortException] with it as cause.
     */
    fun train(parameters: FloatArray, epochs: Int, batchSize: Int, learningRate: Double,
              round: Long): TrainingResult
}

class TrainingResult(val parameters: FloatArray, val numExamples: Long, val loss: Double)

/** The device facts the server's eligibility rules read (WorkManager constraints map onto them). */
class Eligibility(val charging: Boolean, val unmetered: Boolean, val idle: Boolean,
                  val batteryPercent: Int)

/** Where a participation is; the ordinals are cohort_stage's numbers. */
enum class Stage {
    CHECKING_IN, WAITING, ADVERTISING_KEYS, SHARING_KEYS, DOWNLOADING_MODEL, TRAINING, UPLOADING,
    UNMASKING, BACKING_OFF, DONE
}

/** Progress of a participation, on runOnce's thread: return quickly. */
interface ProgressListener {
    /** [fraction] is the stage's progress in [0, 1] where it has one (download, upload), else 0. */
    fun onProgress(stage: Stage, round: Long, fraction: Double)
}

enum class OutcomeKind { CONTRIBUTED, ROUND_FAILED, DROPPED, RETRY_LATER }

class Outcome(val kind: OutcomeKind, val taskId: String, val roundNumber: Long,
              val newModelVersion: Long, val retryAtUnixMillis: Long, val reason: String)

/**
 * What cohort_jni.c calls during a participation, on runOnce's thread: the app's trainer and
 * listener, with the trainer's exception kept for runOnce to rethrow (a Kotlin exception cannot
 * cross the C library), and the cancel request the native side must not miss.
 */
internal class NativeCallbacks(private val trainer: Trainer,
                               private val progress: ProgressListener?) {
    @Volatile var cancelRequested = false
    var trainerError: Throwable? = null
        private set

    fun startParticipation() {
        cancelRequested = false
        trainerError = null
    }

    /** Null when the trainer threw; [trainerErrorMessage] then says why. */
    fun train(parameters: FloatArray, epochs: Int, batchSize: Int, learningRate: Double,
              round: Long): TrainingResult? =
        try {
            trainer.train(parameters, epochs, batchSize, learningRate, round)
        } catch (e: Throwable) {
            trainerError = e
            null
        }

    fun trainerErrorMessage(): String = trainerError?.toString() ?: "the trainer returned null"

    /** Returns whether the participation is to be cancelled. */
    fun onProgress(stage: Int, round: Long, fraction: Double): Boolean {
        try {
            progress?.onProgress(Stage.values()[stage], round, fraction)
        } catch (e: Exception) {
            // Progress is advisory: a failing listener must not cost the device its round.
        }
        return cancelRequested
    }
}
