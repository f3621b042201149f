package dev.cohort.client;

/**
 * Test stand-in for CohortException of CohortClient.kt: the constructor the JNI glue calls,
 * (int code, String message). Unchecked here so that Java lets the test catch it from natives.
 */
public class CohortException extends RuntimeException {
  public final int code;

  public CohortException(int code, String message) {
    super(message);
    this.code = code;
  }
}
