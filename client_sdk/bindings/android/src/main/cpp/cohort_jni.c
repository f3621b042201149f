/* JNI glue between dev.cohort.client.CohortClient (Kotlin) and the C ABI of libcohort_client.so.
 * The trainer callback runs on the thread inside runOnce(), which is already attached to the
 * JVM, so it uses the JNIEnv saved for that call. */
#include <jni.h>
#include <stdlib.h>
#include <string.h>

#include "cohort/cohort_client.h"

typedef struct {
  cohort_client* client;
  JavaVM* vm;
  jobject trainer;  /* global ref */
  char* device_id;
  JNIEnv* call_env; /* set during runOnce */
} jni_client;

static char* dup_string(JNIEnv* env, jstring s) {
  const char* utf = (*env)->GetStringUTFChars(env, s, NULL);
  size_t n = strlen(utf) + 1;
  char* copy = malloc(n);
  if (copy != NULL) memcpy(copy, utf, n);
  (*env)->ReleaseStringUTFChars(env, s, utf);
  return copy;
}

static void throw_cohort(JNIEnv* env, cohort_status status) {
  jclass cls = (*env)->FindClass(env, "dev/cohort/client/CohortException");
  jmethodID ctor = (*env)->GetMethodID(env, cls, "<init>", "(ILjava/lang/String;)V");
  jstring msg = (*env)->NewStringUTF(env, cohort_last_error_message());
  (*env)->Throw(env, (jthrowable)(*env)->NewObject(env, cls, ctor, (jint)status, msg));
}

static const char* device_id(void* user_data) { return ((jni_client*)user_data)->device_id; }

static cohort_status train(void* user_data, const cohort_tensor_spec* tensors, size_t num_tensors,
                           const float* parameters, size_t num_parameters,
                           const cohort_training_params* params, float* out_parameters,
                           int64_t* out_num_examples, double* out_loss, char* error_message,
                           size_t error_message_size) {
  (void)tensors;
  (void)num_tensors;
  jni_client* c = (jni_client*)user_data;
  JNIEnv* env = c->call_env;
  jfloatArray in = (*env)->NewFloatArray(env, (jsize)num_parameters);
  if (in == NULL) return COHORT_RESOURCE_EXHAUSTED;
  (*env)->SetFloatArrayRegion(env, in, 0, (jsize)num_parameters, parameters);
  jclass cls = (*env)->GetObjectClass(env, c->trainer);
  jmethodID m = (*env)->GetMethodID(env, cls, "train", "([FIIDJ)Ldev/cohort/client/TrainingResult;");
  jobject result = (*env)->CallObjectMethod(env, c->trainer, m, in, params->local_epochs,
                                            params->batch_size, params->learning_rate,
                                            (jlong)params->round_number);
  (*env)->DeleteLocalRef(env, in);
  if ((*env)->ExceptionCheck(env) || result == NULL) {
    (*env)->ExceptionClear(env);
    strncpy(error_message, "Kotlin trainer threw", error_message_size - 1);
    return COHORT_INTERNAL;
  }
  jclass rcls = (*env)->GetObjectClass(env, result);
  jfloatArray out = (jfloatArray)(*env)->GetObjectField(
      env, result, (*env)->GetFieldID(env, rcls, "parameters", "[F"));
  if ((size_t)(*env)->GetArrayLength(env, out) != num_parameters) {
    strncpy(error_message, "trainer returned the wrong parameter count", error_message_size - 1);
    return COHORT_INVALID_ARGUMENT;
  }
  (*env)->GetFloatArrayRegion(env, out, 0, (jsize)num_parameters, out_parameters);
  *out_num_examples = (*env)->GetLongField(env, result,
                                           (*env)->GetFieldID(env, rcls, "numExamples", "J"));
  *out_loss = (*env)->GetDoubleField(env, result, (*env)->GetFieldID(env, rcls, "loss", "D"));
  return COHORT_OK;
}

JNIEXPORT jlong JNICALL Java_dev_cohort_client_CohortClient_nativeCreate(
    JNIEnv* env, jclass clazz, jstring address, jstring roots, jstring population,
    jstring storage_dir, jstring id, jobject trainer) {
  (void)clazz;
  jni_client* c = calloc(1, sizeof(jni_client));
  (*env)->GetJavaVM(env, &c->vm);
  c->trainer = (*env)->NewGlobalRef(env, trainer);
  c->device_id = dup_string(env, id);
  char* a = dup_string(env, address);
  char* r = dup_string(env, roots);
  char* p = dup_string(env, population);
  char* s = dup_string(env, storage_dir);
  cohort_config config;
  cohort_config_init(&config);
  config.server_address = a;
  config.tls_root_certs_pem = r;
  config.population = p;
  config.storage_dir = s;
  config.device_id = device_id;
  config.user_data = c;
  cohort_trainer t = {.user_data = c, .train = train};
  cohort_status status = cohort_client_create(&config, &t, &c->client);  /* copies the strings */
  free(a);
  free(r);
  free(p);
  free(s);
  if (status != COHORT_OK) {
    throw_cohort(env, status);
    (*env)->DeleteGlobalRef(env, c->trainer);
    free(c->device_id);
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

JNIEXPORT jobject JNICALL Java_dev_cohort_client_CohortClient_nativeRunOnce(JNIEnv* env,
                                                                           jclass clazz,
                                                                           jlong handle) {
  (void)clazz;
  jni_client* c = (jni_client*)(intptr_t)handle;
  c->call_env = env;
  cohort_outcome o;
  cohort_status status = cohort_client_run_once(c->client, &o);
  c->call_env = NULL;
  if (status != COHORT_OK) {
    throw_cohort(env, status);
    return NULL;
  }
  jclass kind_cls = (*env)->FindClass(env, "dev/cohort/client/OutcomeKind");
  jobjectArray kinds = (jobjectArray)(*env)->CallStaticObjectMethod(
      env, kind_cls,
      (*env)->GetStaticMethodID(env, kind_cls, "values", "()[Ldev/cohort/client/OutcomeKind;"));
  jobject kind = (*env)->GetObjectArrayElement(env, kinds, (jsize)o.kind);
  jclass cls = (*env)->FindClass(env, "dev/cohort/client/Outcome");
  jmethodID ctor = (*env)->GetMethodID(
      env, cls, "<init>", "(Ldev/cohort/client/OutcomeKind;Ljava/lang/String;JJJLjava/lang/String;)V");
  return (*env)->NewObject(env, cls, ctor, kind, (*env)->NewStringUTF(env, o.task_id),
                           (jlong)o.round_number, (jlong)o.new_model_version,
                           (jlong)o.retry_at_unix_millis, (*env)->NewStringUTF(env, o.reason));
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
  (void)clazz;
  jni_client* c = (jni_client*)(intptr_t)handle;
  cohort_client_destroy(c->client);
  (*env)->DeleteGlobalRef(env, c->trainer);
  free(c->device_id);
  free(c);
}
