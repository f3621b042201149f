/* JNI glue between dev.cohort.client.InferenceModel (Kotlin) and the inference half of the C ABI
 * (cohort_inference_model_*). Every native runs on the caller's thread with its own JNIEnv, so
 * concurrent predict() calls need nothing here beyond the C ABI's own thread-safety. */
#include <jni.h>
#include <stdint.h>
#include <stdlib.h>

#include "cohort/cohort_client.h"

static void throw_inference(JNIEnv* env, cohort_status status) {
  jclass cls = (*env)->FindClass(env, "dev/cohort/client/CohortException");
  if (cls == NULL) return; /* NoClassDefFoundError is pending */
  jmethodID ctor = (*env)->GetMethodID(env, cls, "<init>", "(ILjava/lang/String;)V");
  jstring msg = (*env)->NewStringUTF(env, cohort_last_error_message());
  (*env)->Throw(env, (jthrowable)(*env)->NewObject(env, cls, ctor, (jint)status, msg));
}

static void throw_resource(JNIEnv* env, const char* what) {
  jclass cls = (*env)->FindClass(env, "java/lang/OutOfMemoryError");
  if (cls != NULL) (*env)->ThrowNew(env, cls, what);
}

JNIEXPORT jlong JNICALL Java_dev_cohort_client_InferenceModel_nativeLoad(
    JNIEnv* env, jclass clazz, jbyteArray artifact, jint engine, jint threads, jint concurrency) {
  (void)clazz;
  const jsize size = (*env)->GetArrayLength(env, artifact);
  /* The artifact is parsed once; a copy avoids pinning the Java array meanwhile. */
  jbyte* bytes = malloc(size > 0 ? (size_t)size : 1);
  if (bytes == NULL) {
    throw_resource(env, "cannot copy the inference artifact");
    return 0;
  }
  (*env)->GetByteArrayRegion(env, artifact, 0, size, bytes);
  cohort_inference_options options;
  cohort_inference_options_init(&options);
  options.engine = (cohort_inference_engine)engine;
  options.num_threads = threads;
  options.max_concurrency = concurrency;
  cohort_inference_model* model = NULL;
  const cohort_status status = cohort_inference_model_load(bytes, (size_t)size, &options, &model);
  free(bytes);
  if (status != COHORT_OK) {
    throw_inference(env, status);
    return 0;
  }
  return (jlong)(intptr_t)model;
}

JNIEXPORT jlongArray JNICALL Java_dev_cohort_client_InferenceModel_nativeInfo(JNIEnv* env,
                                                                               jclass clazz,
                                                                               jlong handle) {
  (void)clazz;
  cohort_inference_info info;
  const cohort_status status =
      cohort_inference_model_info((const cohort_inference_model*)(intptr_t)handle, &info);
  if (status != COHORT_OK) {
    throw_inference(env, status);
    return NULL;
  }
  jlong values[8] = {info.format,      info.model_version,  (jlong)info.input_size,
                     (jlong)info.output_size, (jlong)info.input_rank, info.input_shape[0],
                     info.input_shape[1], info.input_shape[2]};
  jlongArray out = (*env)->NewLongArray(env, 8);
  if (out != NULL) (*env)->SetLongArrayRegion(env, out, 0, 8, values);
  return out;
}

JNIEXPORT jstring JNICALL Java_dev_cohort_client_InferenceModel_nativeTaskId(JNIEnv* env,
                                                                             jclass clazz,
                                                                             jlong handle) {
  (void)clazz;
  cohort_inference_info info;
  const cohort_status status =
      cohort_inference_model_info((const cohort_inference_model*)(intptr_t)handle, &info);
  if (status != COHORT_OK) {
    throw_inference(env, status);
    return NULL;
  }
  return (*env)->NewStringUTF(env, info.task_id);
}

JNIEXPORT jfloatArray JNICALL Java_dev_cohort_client_InferenceModel_nativePredict(
    JNIEnv* env, jclass clazz, jlong handle, jfloatArray inputs, jint batch) {
  (void)clazz;
  const cohort_inference_model* model = (const cohort_inference_model*)(intptr_t)handle;
  cohort_inference_info info;
  cohort_status status = cohort_inference_model_info(model, &info);
  if (status != COHORT_OK) {
    throw_inference(env, status);
    return NULL;
  }
  const jsize n_in = (*env)->GetArrayLength(env, inputs);
  /* A negative batch makes the C ABI refuse the counts; keep the allocation non-negative. */
  const size_t n_out = batch > 0 ? (size_t)batch * info.output_size : 0;
  float* in = malloc(n_in > 0 ? (size_t)n_in * sizeof(float) : 1);
  float* out = malloc(n_out > 0 ? n_out * sizeof(float) : 1);
  if (in == NULL || out == NULL) {
    free(in);
    free(out);
    throw_resource(env, "cannot allocate prediction buffers");
    return NULL;
  }
  (*env)->GetFloatArrayRegion(env, inputs, 0, n_in, in);
  status = cohort_inference_model_predict(model, in, (size_t)n_in, batch, out, n_out);
  jfloatArray result = NULL;
  if (status != COHORT_OK) {
    throw_inference(env, status);
  } else {
    result = (*env)->NewFloatArray(env, (jsize)n_out);
    if (result != NULL) (*env)->SetFloatArrayRegion(env, result, 0, (jsize)n_out, out);
  }
  free(in);
  free(out);
  return result;
}

JNIEXPORT void JNICALL Java_dev_cohort_client_InferenceModel_nativeFree(JNIEnv* env, jclass clazz,
                                                                        jlong handle) {
  (void)env;
  (void)clazz;
  cohort_inference_model_free((cohort_inference_model*)(intptr_t)handle);
}
