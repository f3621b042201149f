package dev.cohort.client

import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread

/**
 * InferenceModel (Kotlin) and its JNI glue on a host JVM, against libcohort_client.so, with the
 * artifacts that inference_fixture_writer wrote. Prints "N passed, M failed"; exits 1 on any
 * failure.
 *
 *   java -Djava.library.path=DIR -cp JARS dev.cohort.client.InferenceJniTest FIXTURE_DIR
 */
object InferenceJniTest {
    private var passed = 0
    private var failed = 0

    private fun check(condition: Boolean, what: String) {
        if (condition) ++passed else {
            ++failed
            System.err.println("CHECK failed: $what")
        }
    }

    private fun floats(path: Path): FloatArray {
        val buffer = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN)
        return FloatArray(buffer.remaining() / 4).also { buffer.asFloatBuffer().get(it) }
    }

    /** The code of the CohortException [block] throws (its message naming [named]), or -1. */
    private fun refusal(named: String = "", block: () -> Unit): Int =
        try {
            block()
            -1
        } catch (e: CohortException) {
            check(e.message!!.contains(named), "message '${e.message}' names '$named'")
            e.code
        }

    @JvmStatic
    fun main(args: Array<String>) {
        val dir = Paths.get(args[0])
        val f32 = Files.readAllBytes(dir.resolve("cnn_float.pb"))
        val int8 = Files.readAllBytes(dir.resolve("cnn_int8.pb"))
        val inputs = floats(dir.resolve("inputs.f32"))
        val expectedFloat = floats(dir.resolve("cnn_float.expected.f32"))
        val expectedInt8 = floats(dir.resolve("cnn_int8.expected.f32"))

        for (engine in InferenceEngine.values()) {
            InferenceModel.load(f32, engine, maxConcurrency = 2).use { model ->
                val info = model.info
                check(info.format == InferenceFormat.FLOAT32 && info.modelVersion == 3L &&
                      info.inputSize == 784 && info.outputSize == 10, "$engine: float info")
                check(info.inputShape.contentEquals(longArrayOf(1, 28, 28)), "$engine: shape")
                check(info.taskId == "fixture-task", "$engine: task id")
                val out = model.predict(inputs, batch = 4)
                val worst = out.indices.map { Math.abs(out[it] - expectedFloat[it]) }.max() ?: 1f
                check(out.size == 40 && worst < 1e-4f, "$engine: within 1e-4, worst $worst")
            }
        }

        // INT8: the C++ API's numbers exactly, also from several threads at once.
        val model = InferenceModel.load(int8)
        check(model.info.format == InferenceFormat.INT8, "int8 format")
        check(model.predict(inputs, batch = 4).contentEquals(expectedInt8), "int8 batch")
        val mismatches = AtomicInteger()
        (0 until 4).map { t ->
            val image = inputs.copyOfRange(t * 784, (t + 1) * 784)
            val row = expectedInt8.copyOfRange(t * 10, (t + 1) * 10)
            thread {
                repeat(50) { if (!model.predict(image).contentEquals(row)) mismatches.incrementAndGet() }
            }
        }.forEach { it.join() }
        check(mismatches.get() == 0, "concurrent predictions: ${mismatches.get()} mismatches")
        check(refusal { model.predict(FloatArray(783)) } == 3, "a short input: INVALID_ARGUMENT")
        model.close()
        val closed = try {
            model.predict(inputs)
            false
        } catch (e: IllegalStateException) {
            true
        }
        check(closed, "predict after close is refused")
        model.close()

        // Refused at load: the layer named; bytes that are no artifact; INT8 on the reference.
        check(refusal("'subsample'") {
            InferenceModel.load(Files.readAllBytes(dir.resolve("unrunnable.pb")))
        } == 12, "unrunnable model: UNIMPLEMENTED")
        check(refusal { InferenceModel.load("not an artifact".toByteArray()) } == 15,
              "garbage: DATA_LOSS")
        check(refusal { InferenceModel.load(int8, InferenceEngine.EIGEN_REFERENCE) } == 3,
              "Eigen + INT8: INVALID_ARGUMENT")

        println("$passed passed, $failed failed")
        System.exit(if (failed == 0) 0 else 1)
    }
}
