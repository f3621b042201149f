// Sample, not built here (it needs androidx.work, which Debian does not package): the shape of
// an app's federated-training job on WorkManager. The wrapper it calls, CohortClient, is built
// and tested on the JVM (src/test).
package com.example.keyboard

import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.net.ConnectivityManager
import android.os.BatteryManager
import android.os.PowerManager
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import dev.cohort.client.CohortClient
import dev.cohort.client.CohortException
import dev.cohort.client.Eligibility
import dev.cohort.client.OutcomeKind
import dev.cohort.client.ProgressListener
import dev.cohort.client.Stage
import java.util.concurrent.TimeUnit

class CohortTrainingWorker(context: Context, params: WorkerParameters) :
    CoroutineWorker(context, params) {

    override suspend fun doWork(): Result {
        // WorkManager ran us because its constraints held when it decided to; the server's
        // eligibility rules read the facts as they are now, so report them, not the constraints.
        val client = CohortClient(SERVER, KeyboardApp.rootsPem(applicationContext), POPULATION,
                                  applicationContext.filesDir.resolve("cohort").path,
                                  KeyboardApp.deviceId(applicationContext),
                                  KeyboardTrainer(applicationContext),
                                  progress = object : ProgressListener {
                                      override fun onProgress(stage: Stage, round: Long,
                                                              fraction: Double) {
                                          setProgressAsync(workDataOf(stage, fraction))
                                      }
                                  })
        return client.use {
            it.setEligibility(currentFacts(applicationContext))
            try {
                // Cancelling this worker (constraints lost, onStopped) cancels the coroutine,
                // which cancels the participation; the round's state survives in filesDir.
                val outcome = it.runOnce()
                if (outcome.kind == OutcomeKind.RETRY_LATER) Result.retry() else Result.success()
            } catch (e: CohortException) {
                if (e.code == 14 /* UNAVAILABLE */) Result.retry() else Result.failure()
            }
        }
    }

    companion object {
        private const val SERVER = "fl.example.com:443"
        private const val POPULATION = "keyboard/en"

        /** Charging, unmetered and idle: the constraints the server's default rules ask for. */
        fun schedule(context: Context) {
            val constraints = Constraints.Builder()
                .setRequiresCharging(true)
                .setRequiredNetworkType(NetworkType.UNMETERED)
                .setRequiresDeviceIdle(true)
                .setRequiresBatteryNotLow(true)
                .build()
            val request = PeriodicWorkRequestBuilder<CohortTrainingWorker>(1, TimeUnit.HOURS)
                .setConstraints(constraints)
                .build()
            WorkManager.getInstance(context).enqueueUniquePeriodicWork(
                "cohort-training", ExistingPeriodicWorkPolicy.KEEP, request)
        }

        fun currentFacts(context: Context): Eligibility {
            val battery = context.registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
            val plugged = battery?.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0) ?: 0
            val level = battery?.getIntExtra(BatteryManager.EXTRA_LEVEL, -1) ?: -1
            val scale = battery?.getIntExtra(BatteryManager.EXTRA_SCALE, 100) ?: 100
            val connectivity = context.getSystemService(ConnectivityManager::class.java)
            val power = context.getSystemService(PowerManager::class.java)
            return Eligibility(charging = plugged != 0,
                               unmetered = !connectivity.isActiveNetworkMetered,
                               idle = power.isDeviceIdleMode,
                               batteryPercent = if (level < 0) 0 else level * 100 / scale)
        }

        private fun workDataOf(stage: Stage, fraction: Double) =
            androidx.work.workDataOf("stage" to stage.name, "fraction" to fraction)
    }
}
