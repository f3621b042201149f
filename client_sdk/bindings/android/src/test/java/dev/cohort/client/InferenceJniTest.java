package dev.cohort.client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The inference JNI glue on a host JVM, against libcohort_client.so, with the artifacts that
 * inference_fixture_writer wrote. Prints "N passed, M failed"; exits 1 on any failure.
 *
 *   java -Djava.library.path=DIR -cp JAR dev.cohort.client.InferenceJniTest FIXTURE_DIR
 */
public final class InferenceJniTest {
  private static int passed;
  private static int failed;

  private static void check(boolean condition, String what) {
    if (condition) {
      ++passed;
    } else {
      ++failed;
      System.err.println("CHECK failed: " + what);
    }
  }

  private static float[] floats(Path path) throws IOException {
    ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN);
    float[] values = new float[buffer.remaining() / 4];
    buffer.asFloatBuffer().get(values);
    return values;
  }

  /** The code of the CohortException `load` throws, or -1 if it loads. */
  private static int loadError(byte[] artifact, String expectedInMessage) {
    try {
      InferenceModel.nativeFree(InferenceModel.nativeLoad(artifact, 0, 1, 4));
      return -1;
    } catch (CohortException e) {
      check(e.getMessage().contains(expectedInMessage),
            "message '" + e.getMessage() + "' names '" + expectedInMessage + "'");
      return e.code;
    }
  }

  public static void main(String[] args) throws Exception {
    Path dir = Paths.get(args[0]);
    System.loadLibrary("cohort_jni");
    byte[] f32 = Files.readAllBytes(dir.resolve("cnn_float.pb"));
    byte[] int8 = Files.readAllBytes(dir.resolve("cnn_int8.pb"));
    float[] inputs = floats(dir.resolve("inputs.f32"));
    float[] expectedFloat = floats(dir.resolve("cnn_float.expected.f32"));
    float[] expectedInt8 = floats(dir.resolve("cnn_int8.expected.f32"));

    // FLOAT32 on XNNPACK (0) and the Eigen reference (1).
    for (int engine = 0; engine < 2; ++engine) {
      long model = InferenceModel.nativeLoad(f32, engine, 1, 2);
      long[] info = InferenceModel.nativeInfo(model);
      check(info[0] == 1 && info[1] == 3 && info[2] == 784 && info[3] == 10, "float info");
      check(info[4] == 3 && info[5] == 1 && info[6] == 28 && info[7] == 28, "input shape");
      check(InferenceModel.nativeTaskId(model).equals("fixture-task"), "task id");
      float[] out = InferenceModel.nativePredict(model, inputs, 4);
      float worst = 0;
      for (int i = 0; i < out.length; ++i) worst = Math.max(worst, Math.abs(out[i] - expectedFloat[i]));
      check(out.length == 40 && worst < 1e-4f, "float outputs within 1e-4, worst " + worst);
      InferenceModel.nativeFree(model);
    }

    // INT8: the C++ API's numbers exactly, also from several Java threads at once.
    long model = InferenceModel.nativeLoad(int8, 0, 1, 4);
    check(InferenceModel.nativeInfo(model)[0] == 2, "int8 format");
    check(Arrays.equals(InferenceModel.nativePredict(model, inputs, 4), expectedInt8), "int8 batch");
    AtomicInteger mismatches = new AtomicInteger();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 4; ++t) {
      final float[] image = Arrays.copyOfRange(inputs, t * 784, (t + 1) * 784);
      final float[] row = Arrays.copyOfRange(expectedInt8, t * 10, (t + 1) * 10);
      Thread thread = new Thread(() -> {
        for (int call = 0; call < 50; ++call) {
          if (!Arrays.equals(InferenceModel.nativePredict(model, image, 1), row)) {
            mismatches.incrementAndGet();
          }
        }
      });
      threads.add(thread);
      thread.start();
    }
    for (Thread thread : threads) thread.join();
    check(mismatches.get() == 0, "concurrent predictions: " + mismatches.get() + " mismatches");
    try {
      InferenceModel.nativePredict(model, new float[783], 1);
      check(false, "a short input is refused");
    } catch (CohortException e) {
      check(e.code == 3, "short input: INVALID_ARGUMENT, got " + e.code);
    }
    InferenceModel.nativeFree(model);

    // Refused at load: the layer named; bytes that are no artifact; INT8 on the Eigen reference.
    check(loadError(Files.readAllBytes(dir.resolve("unrunnable.pb")), "'subsample'") == 12,
          "unrunnable model: UNIMPLEMENTED");
    check(loadError("not an artifact".getBytes("UTF-8"), "") == 15, "garbage: DATA_LOSS");
    try {
      InferenceModel.nativeLoad(int8, 1, 1, 4);
      check(false, "the Eigen reference refuses INT8");
    } catch (CohortException e) {
      check(e.code == 3, "Eigen + INT8: INVALID_ARGUMENT");
    }

    System.out.println(passed + " passed, " + failed + " failed");
    System.exit(failed == 0 ? 0 : 1);
  }
}
