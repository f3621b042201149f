/* JNI glue between dev.cohort.client.CohortClient (Kotlin) and the C ABI of libcohort_client.so.
 *
 * The trainer and progress callbacks run on the thread inside runOnce(), which is already
 * attached to the JVM, so they use the JNIEnv and the NativeCallbacks object of that call. No
 * Java exception is left pending across the C library: NativeCallbacks catches the trainer's
 * (runOnce rethrows it), and any other is cleared and reported as a status. Handle lifetime and
 * the ordering of run, cancel and close are CohortClient's: it never calls in after destroy. */
#include <jni.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort/cohort_client.h"

typedef struct {
  cohort_client* client;
  char* device_id;
  /* Valid only during runOnce, on its thread. */
  JNIEnv* call_env;
  jobject call_callbacks;
} jni_client;

static char* dup_string(JNIEnv* env, jstring s) {
  const char* utf = (*env)->GetStringUTFChars(env, s, NULL);
  if (utf == NULL) return NULL; /* OutOfMemoryError pending */
  size_t n = strlen(utf) + 1;
  char* copy = malloc(n);
  if (copy != NULL) memcpy(copy, utf, n);
  (*env)->ReleaseStringUTFChars(env, s, utf);
  return copy;
}

/* A Java string from UTF-8 bytes. NewStringUTF takes modified UTF-8 only, and a server's
 * message or a truncated one is not always that (CheckJNI aborts the app on it); invalid
 * sequences become U+FFFD here. NULL with an exception pending on failure. */
static jstring new_string(JNIEnv* env, const char* utf8) {
  jsize n = (jsize)strlen(utf8);
  jbyteArray bytes = (*env)->NewByteArray(env, n);
  if (bytes == NULL) return NULL;
  (*env)->SetByteArrayRegion(env, bytes, 0, n, (const jbyte*)utf8);
  jclass string_class = (*env)->FindClass(env, "java/lang/String");
  jstring charset = (*env)->NewStringUTF(env, "UTF-8");
  jmethodID ctor = string_class == NULL
                       ? NULL
                       : (*env)->GetMethodID(env, string_class, "<init>",
                                             "([BLjava/lang/String;)V");
  jstring s = ctor == NULL || charset == NULL
                  ? NULL
                  : (jstring)(*env)->NewObject(env, string_class, ctor, bytes, charset);
  (*env)->DeleteLocalRef(env, bytes);
  if (string_class != NULL) (*env)->DeleteLocalRef(env, string_class);
  if (charset != NULL) (*env)->DeleteLocalRef(env, charset);
  return s;
}

static void throw_cohort(JNIEnv* env, cohort_status status, const char* message) {
  jclass cls = (*env)->FindClass(env, "dev/cohort/client/CohortException");
  if (cls == NULL) return;
  jmethodID ctor = (*env)->GetMethodID(env, cls, "<init>", "(ILjava/lang/String;)V");
  jstring msg = ctor == NULL ? NULL : new_string(env, message);
  jobject e = msg == NULL ? NULL : (*env)->NewObject(env, cls, ctor, (jint)status, msg);
  if (e != NULL) (*env)->Throw(env, (jthrowable)e);
}

/* Clears a pending exception; returns whether there was one. */
static int clear_exception(JNIEnv* env) {
  if (!(*env)->ExceptionCheck(env)) return 0;
  (*env)->ExceptionClear(env);
  return 1;
}

static void copy_message(char* out, size_t size, const char* message) {
  if (size == 0) return;
  snprintf(out, size, "%s", message);
}

static const char* device_id(void* user_data) { return ((jni_client*)user_data)->device_id; }

static void trainer_error_message(JNIEnv* env, jobject callbacks, char* out, size_t size) {
  jclass cls = (*env)->GetObjectClass(env, callbacks);
  jmethodID m = (*env)->GetMethodID(env, cls, "trainerErrorMessage", "()Ljava/lang/String;");
  jstring message = m != NULL ? (jstring)(*env)->CallObjectMethod(env, callbacks, m) : NULL;
  if (clear_exception(env) || message == NULL) {
    copy_message(out, size, "the Kotlin trainer failed");
    return;
  }
  const char* utf = (*env)->GetStringUTFChars(env, message, NULL);
  copy_message(out, size, utf != NULL ? utf : "the Kotlin trainer failed");
  if (utf != NULL) (*env)->ReleaseStringUTFChars(env, message, utf);
  (*env)->DeleteLocalRef(env, message);
}

static cohort_status train_in_frame(void* user_data, const cohort_tensor_spec* tensors,
                                    size_t num_tensors, const float* parameters,
                                    size_t num_parameters, const cohort_training_params* params,
                                    float* out_parameters, int64_t* out_num_examples,
                                    double* out_loss, char* error_message,
                                    size_t error_message_size) {
  (void)tensors;
  (void)num_tensors;
  jni_client* c = (jni_client*)user_data;
  JNIEnv* env = c->call_env;
  jfloatArray in = (*env)->NewFloatArray(env, (jsize)num_parameters);
  if (in == NULL) {
    clear_exception(env);
    copy_message(error_message, error_message_size, "out of memory for the parameters");
    return COHORT_RESOURCE_EXHAUSTED;
  }
  (*env)->SetFloatArrayRegion(env, in, 0, (jsize)num_parameters, parameters);
  jclass cls = (*env)->GetObjectClass(env, c->call_callbacks);
  jmethodID m = (*env)->GetMethodID(env, cls, "train",
                                    "([FIIDJ)Ldev/cohort/client/TrainingResult;");
  jobject result = m == NULL ? NULL
                             : (*env)->CallObjectMethod(env, c->call_callbacks, m, in,
                                                        params->local_epochs, params->batch_size,
                                                        params->learning_rate,
                                                        (jlong)params->round_number);
  (*env)->DeleteLocalRef(env, in);
  if (clear_exception(env) || result == NULL) {
    /* UNKNOWN, as gRPC reports an exception thrown by application code. */
    trainer_error_message(env, c->call_callbacks, error_message, error_message_size);
    return COHORT_UNKNOWN;
  }
  jclass rcls = (*env)->GetObjectClass(env, result);
  jfloatArray out = (jfloatArray)(*env)->GetObjectField(
      env, result, (*env)->GetFieldID(env, rcls, "parameters", "[F"));
  if (clear_exception(env) || out == NULL ||
      (size_t)(*env)->GetArrayLength(env, out) != num_parameters) {
    snprintf(error_message, error_message_size,
             "the trainer returned %ld parameters, want %zu",
             out == NULL ? -1L : (long)(*env)->GetArrayLength(env, out), num_parameters);
    return COHORT_INVALID_ARGUMENT;
  }
  (*env)->GetFloatArrayRegion(env, out, 0, (jsize)num_parameters, out_parameters);
  *out_num_examples = (*env)->GetLongField(env, result,
                                           (*env)->GetFieldID(env, rcls, "numExamples", "J"));
  *out_loss = (*env)->GetDoubleField(env, result, (*env)->GetFieldID(env, rcls, "loss", "D"));
  (*env)->DeleteLocalRef(env, out);
  (*env)->DeleteLocalRef(env, result);
  if (clear_exception(env)) {
    copy_message(error_message, error_message_size, "the trainer's result is malformed");
    return COHORT_INVALID_ARGUMENT;
  }
  return COHORT_OK;
}

/* The callbacks run many times inside one native call (a progress report per chunk): each
 * gets a local frame, so the references it makes do not pile up until runOnce returns (older
 * ART aborts at 512). */
static cohort_status train(void* user_data, const cohort_tensor_spec* tensors, size_t num_tensors,
                           const float* parameters, size_t num_parameters,
                           const cohort_training_params* params, float* out_parameters,
                           int64_t* out_num_examples, double* out_loss, char* error_message,
                           size_t error_message_size) {
  JNIEnv* env = ((jni_client*)user_data)->call_env;
  if ((*env)->PushLocalFrame(env, 16) != 0) {
    clear_exception(env);
    copy_message(error_message, error_message_size, "out of memory for the trainer call");
    return COHORT_RESOURCE_EXHAUSTED;
  }
  cohort_status status = train_in_frame(user_data, tensors, num_tensors, parameters,
                                        num_parameters, params, out_parameters, out_num_examples,
                                        out_loss, error_message, error_message_size);
  (*env)->PopLocalFrame(env, NULL);
  return status;
}

static void on_progress(void* user_data, cohort_stage stage, int64_t round, double fraction) {
  jni_client* c = (jni_client*)user_data;
  JNIEnv* env = c->call_env;
  if (env == NULL) return;
  if ((*env)->PushLocalFrame(env, 4) != 0) {
    clear_exception(env);
    return;
  }
  jclass cls = (*env)->GetObjectClass(env, c->call_callbacks);
  jmethodID m = (*env)->GetMethodID(env, cls, "onProgress", "(IJD)Z");
  jboolean cancel = m != NULL && (*env)->CallBooleanMethod(env, c->call_callbacks, m, (jint)stage,
                                                           (jlong)round, fraction);
  const int threw = clear_exception(env);
  (*env)->PopLocalFrame(env, NULL);
  if (threw) return;
  /* A cancel that came before the participation began was reset by it; this one is seen. */
  if (cancel) cohort_client_cancel(c->client);
}

JNIEXPORT jlong JNICALL Java_dev_cohort_client_CohortClient_nativeCreate(
    JNIEnv* env, jclass clazz, jstring address, jstring roots, jstring population,
    jstring storage_dir, jstring id, jlong rpc_timeout_millis, jlong initial_backoff_millis,
    jlong max_backoff_millis) {
  (void)clazz;
  jni_client* c = calloc(1, sizeof(jni_client));
  char* a = dup_string(env, address);
  char* r = dup_string(env, roots);
  char* p = dup_string(env, population);
  char* s = dup_string(env, storage_dir);
  cohort_status status = COHORT_RESOURCE_EXHAUSTED;
  const char* message = "out of memory";
  if (c != NULL && (c->device_id = dup_string(env, id)) != NULL && a != NULL && r != NULL &&
      p != NULL && s != NULL) {
    cohort_config config;
    cohort_config_init(&config);
    config.server_address = a;
    config.tls_root_certs_pem = r;
    config.population = p;
    config.storage_dir = s;
    config.device_id = device_id;
    config.on_progress = on_progress;
    config.user_data = c;
    config.rpc_timeout_millis = rpc_timeout_millis;
    config.initial_backoff_millis = initial_backoff_millis;
    config.max_backoff_millis = max_backoff_millis;
    cohort_trainer t = {.user_data = c, .train = train};
    status = cohort_client_create(&config, &t, &c->client); /* copies the strings */
    message = cohort_last_error_message();
  }
  free(a);
  free(r);
  free(p);
  free(s);
  if (status != COHORT_OK) {
    if (!(*env)->ExceptionCheck(env)) throw_cohort(env, status, message);
    if (c != NULL) free(c->device_id);
    free(c);
    return 0;
  }
  return (jlong)(intptr_t)c;
}

JNIEXPORT void JNICALL Java_dev_cohort_client_CohortClient_nativeSetEligibility(
    JNIEnv* env, jclass clazz, jlong handle, jboolean charging, jboolean unmetered, jboolean idle,
    jint battery) {
  (void)env;
  (void)clazz;
  cohort_eligibility e = {charging, unmetered, idle, battery};
  cohort_client_set_eligibility(((jni_client*)(intptr_t)handle)->client, &e);
}

static jobject new_outcome(JNIEnv* env, const cohort_outcome* o) {
  jclass kind_cls = (*env)->FindClass(env, "dev/cohort/client/OutcomeKind");
  if (kind_cls == NULL) return NULL;
  jmethodID values =
      (*env)->GetStaticMethodID(env, kind_cls, "values", "()[Ldev/cohort/client/OutcomeKind;");
  if (values == NULL) return NULL;
  jobjectArray kinds = (jobjectArray)(*env)->CallStaticObjectMethod(env, kind_cls, values);
  if ((*env)->ExceptionCheck(env) || kinds == NULL) return NULL;
  jobject kind = (*env)->GetObjectArrayElement(env, kinds, (jsize)o->kind);
  jclass cls = (*env)->FindClass(env, "dev/cohort/client/Outcome");
  if (kind == NULL || cls == NULL) return NULL;
  jmethodID ctor = (*env)->GetMethodID(
      env, cls, "<init>",
      "(Ldev/cohort/client/OutcomeKind;Ljava/lang/String;JJJLjava/lang/String;)V");
  jstring task_id = new_string(env, o->task_id);
  jstring reason = new_string(env, o->reason);
  if (ctor == NULL || task_id == NULL || reason == NULL) return NULL;
  return (*env)->NewObject(env, cls, ctor, kind, task_id, (jlong)o->round_number,
                           (jlong)o->new_model_version, (jlong)o->retry_at_unix_millis, reason);
}

JNIEXPORT jobject JNICALL Java_dev_cohort_client_CohortClient_nativeRunOnce(JNIEnv* env,
                                                                           jclass clazz,
                                                                           jlong handle,
                                                                           jobject callbacks) {
  (void)clazz;
  jni_client* c = (jni_client*)(intptr_t)handle;
  c->call_env = env;
  c->call_callbacks = callbacks;
  cohort_outcome o;
  cohort_status status = cohort_client_run_once(c->client, &o);
  c->call_env = NULL;
  c->call_callbacks = NULL;
  if (status != COHORT_OK) {
    throw_cohort(env, status, cohort_last_error_message());
    return NULL;
  }
  return new_outcome(env, &o);
}

JNIEXPORT void JNICALL Java_dev_cohort_client_CohortClient_nativeCancel(JNIEnv* env, jclass clazz,
                                                                        jlong handle) {
  (void)env;
  (void)clazz;
  cohort_client_cancel(((jni_client*)(intptr_t)handle)->client);
}

JNIEXPORT void JNICALL Java_dev_cohort_client_CohortClient_nativeDestroy(JNIEnv* env,
                                                                         jclass clazz,
                                                                         jlong handle) {
  (void)env;
  (void)clazz;
  jni_client* c = (jni_client*)(intptr_t)handle;
  cohort_client_destroy(c->client);
  free(c->device_id);
  free(c);
}
