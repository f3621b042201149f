package dev.cohort.client

/** A failed SDK call: [code] is a cohort_status (absl/gRPC code numbers, 1 = CANCELLED). */
class CohortException @JvmOverloads constructor(val code: Int, message: String,
                                                cause: Throwable? = null) :
    Exception(message, cause)
