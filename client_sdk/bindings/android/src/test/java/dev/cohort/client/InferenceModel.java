package dev.cohort.client;

/**
 * Test stand-in for the Kotlin class of the same name (src/main/kotlin/dev/cohort/client/
 * InferenceModel.kt): the same native methods with the same JVM signatures, so that the JNI glue
 * (src/main/cpp/cohort_inference_jni.c) is called exactly as the Kotlin class calls it. Debian 12's
 * Kotlin compiler (1.3) cannot build the SDK's Kotlin sources, hence Java.
 */
final class InferenceModel {
  private InferenceModel() {}

  static native long nativeLoad(byte[] artifact, int engine, int numThreads, int maxConcurrency);

  static native long[] nativeInfo(long handle);

  static native String nativeTaskId(long handle);

  static native float[] nativePredict(long handle, float[] inputs, int batch);

  static native void nativeFree(long handle);
}
