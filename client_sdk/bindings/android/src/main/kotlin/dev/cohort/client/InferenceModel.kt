package dev.cohort.client

/** Which engine runs the model; the ordinals are cohort_inference_engine's numbers. */
enum class InferenceEngine { XNNPACK, EIGEN_REFERENCE }

enum class InferenceFormat { FLOAT32, INT8 }

class InferenceModelInfo(
    val taskId: String,
    val modelVersion: Long,
    val format: InferenceFormat,
    /** One example: [features] or [channels, height, width]. */
    val inputShape: LongArray,
    val inputSize: Int,
    val outputSize: Int
)

/**
 * The global model on the device: an inference artifact (FLOAT32 or INT8) run by the SDK's
 * engine (cohort/cohort_client.h, cohort_inference_model_*) through cohort_inference_jni.c.
 *
 * [load] refuses a damaged artifact or a model the engine cannot run with a [CohortException]
 * naming the layer; [predict] is safe from several threads at once.
 *
 *     InferenceModel.load(artifactBytes).use { model ->
 *         val probabilities = model.predict(pixels)   // 784 floats in, 10 out
 *     }
 */
class InferenceModel private constructor(private var handle: Long) : AutoCloseable {
    val info: InferenceModelInfo = describe(handle)

    /** [inputs] holds [batch] examples (batch * inputSize floats); returns batch * outputSize. */
    fun predict(inputs: FloatArray, batch: Int = 1): FloatArray {
        check(handle != 0L) { "InferenceModel is closed" }
        return nativePredict(handle, inputs, batch)
    }

    /** No predict may be running when the model is closed. */
    override fun close() {
        if (handle != 0L) nativeFree(handle)
        handle = 0L
    }

    companion object {
        init { System.loadLibrary("cohort_jni") }  // links libcohort_client.so

        /** Throws [CohortException] (code 15 DATA_LOSS, 3 INVALID_ARGUMENT, 12 UNIMPLEMENTED). */
        fun load(artifact: ByteArray, engine: InferenceEngine = InferenceEngine.XNNPACK,
                 numThreads: Int = 1, maxConcurrency: Int = 4): InferenceModel =
            InferenceModel(nativeLoad(artifact, engine.ordinal, numThreads, maxConcurrency))

        private fun describe(handle: Long): InferenceModelInfo {
            // [format, version, inputSize, outputSize, rank, shape...]
            val v = nativeInfo(handle)
            val rank = v[4].toInt()
            return InferenceModelInfo(nativeTaskId(handle), v[1],
                                      if (v[0] == 2L) InferenceFormat.INT8 else InferenceFormat.FLOAT32,
                                      v.copyOfRange(5, 5 + rank), v[2].toInt(), v[3].toInt())
        }

        @JvmStatic private external fun nativeLoad(artifact: ByteArray, engine: Int, numThreads: Int,
                                                   maxConcurrency: Int): Long
        @JvmStatic private external fun nativeInfo(handle: Long): LongArray
        @JvmStatic private external fun nativeTaskId(handle: Long): String
        @JvmStatic private external fun nativePredict(handle: Long, inputs: FloatArray,
                                                      batch: Int): FloatArray
        @JvmStatic private external fun nativeFree(handle: Long)
    }
}
